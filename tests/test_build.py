"""The one builder: every published recipe builds on the meta device with the parameter counts
of the official models, and smoke / benchmarks build through it."""

from __future__ import annotations

import argparse

import pytest
import torch

from vjepa.train.build import build_core, mask_generators
from vjepa.train.config import MaskConfig
from vjepa.train.hydra_config import load_recipe

# Trainable parameters (fixed sin-cos position tables excluded) of the official encoder and
# predictor of each recipe, counted by constructing facebookresearch/jepa and ijepa models with
# the values of their published configs (configs/pretrain/*.yaml, configs/*.yaml) on the meta
# device: V-JEPA ViT-L/16 is 303.9 M + 22.1 M.
OFFICIAL_COUNTS = {
    "vjepa_vitl16": (303_885_312, 22_082_944),
    "vjepa_vith16": (631_648_000, 22_279_808),
    "vjepa_vith16_384": (631_648_000, 22_279_808),
    "ijepa_vith14_in1k": (630_434_560, 22_279_424),
    "ijepa_vith16_448": (630_664_960, 22_279_424),
    "ijepa_vitg16_in22k": (1_011_092_608, 29_475_712),
}


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(OFFICIAL_COUNTS))
def test_recipe_parameter_counts_equal_the_official_models(name, fast_meta_init):
    cfg = load_recipe(name)
    with torch.device("meta"):
        model, collator = build_core(cfg)
    assert (trainable(model.encoder), trainable(model.predictor)) == OFFICIAL_COUNTS[name]
    assert trainable(model.target_encoder) == 0  # the EMA copy is not trained
    groups = len(cfg.mask.video) if cfg.model.num_frames > 1 else 1
    assert len(collator.generators) == groups


def test_collator_follows_the_recipe_masks():
    cfg = load_recipe("vjepa_tiny", ["mask.video.1.num_blocks=3",
                                     "mask.video.1.spatial_scale=[0.5,0.5]"])
    _, collator = build_core(cfg)
    gen = collator.generators[1]
    assert (gen.num_blocks, tuple(gen.spatial_scale)) == (3, (0.5, 0.5))


def test_schema_default_masks_are_the_vjepa_pair():
    gens = mask_generators(MaskConfig(), (8, 14, 14))
    assert [(g.num_blocks, tuple(g.spatial_scale)) for g in gens] == [(8, (0.15, 0.15)),
                                                                      (2, (0.7, 0.7))]


def test_bench_train_step_measures_the_recipe():
    import benchmarks.bench_train_step as bench

    cfg = bench.load(argparse.Namespace(recipe="vjepa_tiny", set=["model.num_frames=4"],
                                        size="full"))
    x, masks = bench.draw_inputs(cfg, 3, 2, torch.device("cpu"))
    assert x.shape == (3, 3, 4, 64, 64) and cfg.model.num_frames == 4
    assert [len(enc) for enc, _ in masks] == [2, 2]  # the recipe's two mask groups per step
    _, model, _ = bench.ours(cfg, "plain", torch.device("cpu"), "float32")
    assert model.encoder.tokens.grid == (2, 8, 8)


def test_every_published_recipe_has_its_official_count():
    from vjepa.train.hydra_config import config_dir

    published = {p.stem for p in (config_dir() / "experiment").glob("*.yaml")
                 if not p.stem.endswith("_tiny")}
    assert published == set(OFFICIAL_COUNTS)
