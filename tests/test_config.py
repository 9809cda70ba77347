"""Training config: composition, schema errors naming the key, value checks, official recipes."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from vjepa.train import main as train_main
from vjepa.train.build import build_jepa
from vjepa.train.config import (
    DType,
    LossType,
    MaskTokenLayout,
    ModelConfig,
    PosOrder,
    TrainConfig,
    to_plain,
)
from vjepa.train.hydra_config import compose, finalize, typed

OFFICIAL = ["vjepa_vitl16", "vjepa_vith16", "vjepa_vith16_384", "ijepa_vith14_in1k",
            "ijepa_vith16_448", "ijepa_vitg16_in22k"]
TINY = ["vjepa_tiny", "ijepa_tiny"]


def test_default_is_tiny_vjepa_on_synthetic_data():
    cfg = finalize(compose())
    assert cfg.experiment == "vjepa_tiny"
    assert cfg.model.num_frames > 1 and cfg.data.kind == "video" and list(cfg.data.sources) == []
    assert cfg.optim.ema[0] >= 0.999 and cfg.optim.lr <= 2e-4  # gentle settings (issue 4)


@pytest.mark.parametrize(
    "override, key",
    [("optim.lrr=1e-3", "lrr"), ("model.crop=64", "crop"), ("bogus=1", "bogus")],
)
def test_unknown_key_fails_naming_it(override, key):
    with pytest.raises(ConfigCompositionException) as err:
        compose([override])
    assert key in str(err.value) + str(err.value.__cause__)


@pytest.mark.parametrize("override", ["optim.lr=fast", "model.depth=two", "data.batch_size=1.5"])
def test_wrong_type_fails_naming_the_key(override):
    key = override.split("=")[0].split(".")[-1]
    with pytest.raises(ConfigCompositionException) as err:
        compose([override])
    assert key in str(err.value) + str(err.value.__cause__)


@pytest.mark.parametrize("override, choices", [
    ("optim.dtype=float8", "[float32, bfloat16, float16]"), ("model.pos_order=xy", "[hw, wh]"),
    ("model.mask_token_layout=pairs", "[per_config, single]"),
    ("model.loss_type=l2", "[l1, smooth_l1]"), ("data.kind=audio", "[video, image]"),
    ("data.short_policy=drop", "[filter, pad, loop]"), ("dist.backend=mpi", "[auto, nccl, gloo]"),
])
def test_a_value_outside_its_choices_fails_at_composition_naming_key_value_and_choices(
        override, choices):
    key, value = override.split("=")
    with pytest.raises(ConfigCompositionException) as err:
        compose([override])
    text = str(err.value.__cause__)
    assert key in text and repr(value) in text and choices in text


def test_choices_are_the_model_literals():
    """The config's Enums and the models' Literal types list the same values."""
    import typing

    from vjepa.jepa import LossType
    from vjepa.models.pos_embed import PosOrder2D
    from vjepa.models.predictor import MaskTokenLayout
    from vjepa.train import config
    from vjepa.train.step import AUTOCAST_DTYPES

    for enum, literal in ((config.PosOrder, PosOrder2D), (config.LossType, LossType),
                          (config.MaskTokenLayout, MaskTokenLayout)):
        assert {e.value for e in enum} == set(typing.get_args(literal))
        assert all(e.name == e.value and e == e.value and f"{e}" == e.value for e in enum)
    assert {e.value for e in config.DType} == set(AUTOCAST_DTYPES)


def test_missing_required_value_fails_naming_it():
    cfg = compose(["experiment=vjepa_vitl16"])
    with pytest.raises(MissingMandatoryValue, match="sources"):
        finalize(cfg)


@pytest.mark.parametrize(
    "overrides, field, value",
    [
        (["model.crop_size=60"], "model.crop_size", "60"),
        (["model.num_frames=7"], "model.num_frames", "7"),
        (["optim.lr=-1e-3"], "optim.lr", "-0.001"),
        (["mask.video.0.spatial_scale=[0.15,1.5]"], "mask.video[0].spatial_scale", "1.5"),
        (["mask.video.1.temporal_scale=[0.0,1.0]"], "mask.video[1].temporal_scale", "0.0"),
        (["experiment=ijepa_tiny", "mask.image.pred_mask_scale=[0.2,1.1]"],
         "mask.image.pred_mask_scale", "1.1"),
        (["optim.ema=[0.999,1.1]"], "optim.ema", "1.1"),
        (["data.kind=image"], "data.kind", "image"),
        (["model.num_mask_tokens=3"], "model.num_mask_tokens", "3"),
        (["logging.log_every=0"], "logging.log_every", "0"),
        (["data.synthetic_shapes=0"], "data.synthetic_shapes", "0"),
        (["data.synthetic_background=0"], "data.synthetic_background", "0"),
    ],
)
def test_impossible_values_fail_with_field_and_value(overrides, field, value):
    """Checked by validate (the field named whole) or by building the model and masks on the
    meta device (the config section named, then the module's own message with the key)."""
    with pytest.raises(ValueError) as err:
        finalize(compose(overrides))
    section, _, key = field.rpartition(".")
    assert section in str(err.value) and key in str(err.value) and value in str(err.value)


@pytest.mark.parametrize("overrides, message", [
    (["model.crop_size=16", "model.patch_size=8", "model.num_frames=4"], "empty block"),
    (["model.num_heads=3"], "not divisible"),
    (["mask.video.0.num_blocks=0"], "num_blocks must be >= 1"),
])
def test_unbuildable_models_and_masks_fail_at_validation(overrides, message):
    with pytest.raises(ValueError, match=message) as err:
        finalize(compose(overrides))
    assert str(err.value).startswith(("config model", "config mask"))


@pytest.mark.parametrize("name", OFFICIAL + TINY)
def test_recipes_build_on_meta_without_memory(name, fast_meta_init):
    cfg = compose([f"experiment={name}", "data.sources=[/data/index.csv]"])
    cfg = finalize(cfg)
    with torch.device("meta"):
        model = build_jepa(cfg.model)
    params = list(model.parameters())
    assert params and all(p.is_meta for p in params)
    assert model.encoder.tokens.is_video == (cfg.model.num_frames > 1)


def test_official_recipe_values(fast_meta_init):
    v = finalize(compose(["experiment=vjepa_vitl16", "data.sources=[x]"]))
    with torch.device("meta"):
        model = build_jepa(v.model)
    assert (model.encoder.embed_dim, len(model.encoder.blocks)) == (1024, 24)
    assert (len(model.predictor.predictor_blocks), model.predictor.predictor_embed.out_features) \
        == (12, 384)
    assert model.encoder.tokens.grid == (8, 14, 14)
    assert [m.num_blocks for m in v.mask.video] == [8, 2]
    assert [list(m.spatial_scale) for m in v.mask.video] == [[0.15, 0.15], [0.7, 0.7]]
    o = v.optim
    assert (o.start_lr, o.lr, o.final_lr, o.warmup, o.epochs, o.ipe, o.ipe_scale) == (
        2e-4, 6.25e-4, 1e-6, 40, 300, 300, 1.25)
    assert (o.weight_decay, o.final_weight_decay, list(o.ema), o.clip_grad, o.dtype) == (
        0.04, 0.4, [0.998, 1.0], 10.0, "bfloat16")
    assert (v.data.batch_size, v.data.frame_step) == (24, 4)
    assert v.model.loss_type == "l1" and v.model.uniform_power
    i = finalize(compose(["experiment=ijepa_vith14_in1k", "data.sources=[x]"]))
    with torch.device("meta"):
        model = build_jepa(i.model)
    assert model.encoder.tokens.grid == (16, 16) and model.encoder.embed_dim == 1280
    assert (i.optim.lr, i.optim.start_lr, list(i.optim.ema), i.optim.clip_grad) == (
        1e-3, 2e-4, [0.996, 1.0], None)
    assert (i.mask.image.min_keep, i.mask.image.npred, list(i.mask.image.enc_mask_scale)) == (
        10, 4, [0.85, 1.0])
    assert i.model.loss_type == "smooth_l1" and i.data.batch_size * 16 == 2048
    g = finalize(compose(["experiment=ijepa_vitg16_in22k", "data.sources=[x]"]))
    assert (g.model.size, g.model.pred_depth, g.optim.epochs, g.optim.warmup) == (
        "giant", 16, 44, 3)
    assert math.isclose(g.data.random_resize_scale[0], 0.3)


def test_recipes_are_found_installed_in_the_package_or_beside_it(tmp_path):
    from vjepa.train.hydra_config import config_dir

    wheel = tmp_path / "site-packages" / "vjepa"
    (wheel / "configs").mkdir(parents=True)
    (wheel / "configs" / "train.yaml").write_text("defaults: []\n")
    assert config_dir(wheel) == wheel / "configs"
    checkout = tmp_path / "repo" / "vjepa"
    checkout.mkdir(parents=True)
    (tmp_path / "repo" / "configs").mkdir()
    (tmp_path / "repo" / "configs" / "train.yaml").write_text("defaults: []\n")
    assert config_dir(checkout) == tmp_path / "repo" / "configs"
    with pytest.raises(FileNotFoundError, match="config tree not found"):
        config_dir(tmp_path / "elsewhere" / "vjepa")


@pytest.mark.parametrize("child, parent, changes", [
    ("vjepa_vith16", "vjepa_vitl16", {"model.size": "huge"}),
    ("vjepa_vith16_384", "vjepa_vith16", {"model.crop_size": 384, "data.batch_size": 10}),
    ("ijepa_vith16_448", "ijepa_vith14_in1k",
     {"model.crop_size": 448, "model.patch_size": 16, "data.batch_size": 16}),
    ("ijepa_vitg16_in22k", "ijepa_vith14_in1k",
     {"model.size": "giant", "model.patch_size": 16, "model.pred_depth": 16,
      "data.batch_size": 16, "optim.epochs": 44, "optim.warmup": 3}),
])
def test_composed_recipes_are_their_parent_plus_a_few_keys(child, parent, changes):

    from vjepa.train.config import recipe_changes

    def plain(name):
        return OmegaConf.to_container(finalize(compose([f"experiment={name}", "data.sources=[x]"])))

    diff = recipe_changes(plain(parent), plain(child))
    assert diff == {k: (diff[k][0], v) for k, v in changes.items()}


@pytest.mark.parametrize("name", OFFICIAL + TINY)
def test_recipes_carry_no_cluster_settings(name):
    """Cluster settings live only in configs/slurm/ (a recipe says what trains, not where)."""
    from vjepa.train.hydra_config import config_dir

    text = (config_dir() / "experiment" / f"{name}.yaml").read_text()
    assert "\nslurm:" not in text and not text.startswith("slurm:")


@pytest.mark.parametrize("name", OFFICIAL + TINY)
def test_the_engine_gets_the_typed_config(name):
    """typed(): the validated config as TrainConfig dataclasses with Enum members, whose plain
    form (what checkpoints and the resume check store) equals OmegaConf's container."""
    cfg = finalize(compose([f"experiment={name}", "data.sources=[x]"]))
    t = typed(cfg)
    assert isinstance(t, TrainConfig) and isinstance(t.model, ModelConfig)
    assert isinstance(t.model.pos_order, PosOrder) and isinstance(t.model.loss_type, LossType)
    assert isinstance(t.optim.dtype, DType) and isinstance(t.data.sources, list)
    assert to_plain(t) == OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    with pytest.raises(TypeError, match="expected a finalized TrainConfig"):
        typed(OmegaConf.create({"seed": 1}))


def test_run_hands_the_trainer_a_typed_config(monkeypatch, tmp_path):
    seen = {}

    def train_in(cfg, env, device, run_dir):
        seen["cfg"] = cfg
        return {}

    monkeypatch.setattr(train_main, "train_in", train_in)
    train_main.run(compose([f"run_dir={tmp_path / 'run'}"]))
    assert isinstance(seen["cfg"], TrainConfig) and seen["cfg"].run_dir == str(tmp_path / "run")
    assert isinstance(seen["cfg"].model.mask_token_layout, MaskTokenLayout)
