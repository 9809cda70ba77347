"""Guarantee 6: bad configuration fails fast. Property-based over the command-line overrides of
every recipe (configs/experiment/, configs/eval/experiment/): an unknown key, a wrong type or an
impossible value is rejected at composition or validation, naming the key and the value, before
any data or model is built; a valid override never ends in an unhandled exception."""

from __future__ import annotations

import math

import pytest
import torch
from config_space import (
    EVAL_RECIPES,
    TRAIN_RECIPES,
    compose_with,
    message,
    recipe_leaves,
    section_of,
)
from hydra.errors import ConfigCompositionException
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from omegaconf.errors import OmegaConfBaseException

from vjepa.train import config as train_config
from vjepa.train.build import build_core

# few examples, no shrinking (a failure is reported as drawn): each one composes a config
SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=[HealthCheck.too_slow])
TINY = [r for r in TRAIN_RECIPES if r.endswith("_tiny")]
VIDEO = [r for r in TRAIN_RECIPES if not r.startswith("ijepa")]
COMMANDS = [("train", r) for r in TRAIN_RECIPES] + [("eval", r) for r in EVAL_RECIPES]
# words OmegaConf reads as something else, and the choices' own values
SPECIAL = {"true", "false", "null", "none", "yes", "no", "on", "off", "inf", "nan", "y", "n"}
CHOICES = {m.value for c in vars(train_config).values()
           if isinstance(c, type) and issubclass(c, train_config.Choice) for m in c}
WORDS = st.from_regex(r"[a-z]{4,9}", fullmatch=True).filter(lambda w: w not in SPECIAL | CHOICES)


def finalize(command: str, cfg):  # noqa: ANN001, ANN201 (a DictConfig)
    if command == "train":
        from vjepa.train.hydra_config import finalize as fin
    else:
        from vjepa.eval.main import finalize as fin
    return fin(cfg)


def used(recipe: str, key: str) -> bool:
    """The mask section of the other modality is not read (see docs/reliability.md)."""
    image = recipe.startswith("ijepa")
    return not key.startswith("mask.video" if image else "mask.image")


@SETTINGS
@given(where=st.sampled_from(COMMANDS), data=st.data(), word=WORDS, append=st.booleans())
def test_an_unknown_key_is_refused_at_composition_naming_it(where, data, word, append) -> None:
    command, recipe = where
    sections = sorted({k.rpartition(".")[0] for k in recipe_leaves(command, recipe)})
    section = data.draw(st.sampled_from(sections))
    key = f"{section}.{word}".lstrip(".")
    assume(key not in recipe_leaves(command, recipe))
    with pytest.raises((ConfigCompositionException, OmegaConfBaseException)) as err:
        # `key=1` fails at composition; `+key=1` (append) passes it and fails at the schema
        finalize(command, compose_with(command, recipe, [f"{'+' if append else ''}{key}=1"]))
    assert word in message(err.value)


@SETTINGS
@given(where=st.sampled_from(COMMANDS), data=st.data(), word=WORDS)
def test_a_wrong_type_is_refused_at_composition_naming_key_and_value(where, data, word) -> None:
    command, recipe = where
    typed = sorted(k for k, kind in recipe_leaves(command, recipe).items()
                   if kind in ("int", "float", "bool", "enum"))
    key = data.draw(st.sampled_from(typed))
    with pytest.raises(ConfigCompositionException) as err:
        compose_with(command, recipe, [f"{key}={word}"])
    text = message(err.value)
    assert key in text and word in text


@SETTINGS
@given(where=st.sampled_from(COMMANDS), data=st.data(),
       int_value=st.integers(-10**6, -1),
       float_value=st.floats(-1e3, -1e-3).map(lambda v: round(v, 3)).filter(lambda v: v < 0))
def test_a_negative_number_is_rejected_naming_key_and_value(where, data, int_value,
                                                             float_value) -> None:
    command, recipe = where
    numeric = sorted(k for k, kind in recipe_leaves(command, recipe).items()
                     if kind in ("int", "float") and used(recipe, k))
    key = data.draw(st.sampled_from(numeric))
    value = int_value if recipe_leaves(command, recipe)[key] == "int" else float_value
    with pytest.raises(ValueError) as err:
        finalize(command, compose_with(command, recipe, [f"{key}={value}"]))
    section, leaf = section_of(key)
    text = str(err.value)
    assert text.startswith(f"config {section}"), text
    assert leaf in text and repr(value) in text, text


@SETTINGS
@given(recipe=st.sampled_from(TRAIN_RECIPES), patch=st.integers(2, 32), k=st.integers(1, 8),
       data=st.data())
def test_a_patch_that_does_not_divide_the_crop_is_rejected(recipe, patch, k, data) -> None:
    crop = patch * k + data.draw(st.integers(1, patch - 1))
    cfg = compose_with("train", recipe, [f"model.crop_size={crop}", f"model.patch_size={patch}"])
    with pytest.raises(ValueError) as err:
        finalize("train", cfg)
    assert f"crop_size={crop}" in str(err.value) and f"patch_size={patch}" in str(err.value)


@SETTINGS
@given(recipe=st.sampled_from(VIDEO), tubelet=st.integers(2, 4), k=st.integers(1, 8),
       data=st.data())
def test_a_tubelet_that_does_not_divide_the_frames_is_rejected(recipe, tubelet, k, data) -> None:
    frames = tubelet * k + data.draw(st.integers(1, tubelet - 1))
    cfg = compose_with("train", recipe, [f"model.num_frames={frames}",
                                         f"model.tubelet_size={tubelet}"])
    with pytest.raises(ValueError) as err:
        finalize("train", cfg)
    assert f"num_frames={frames}" in str(err.value) and f"tubelet_size={tubelet}" in str(err.value)


def scale_pair(low: float = 0.0) -> st.SearchStrategy[str]:
    return st.tuples(st.floats(low, 1.0), st.floats(low, 1.0)).map(
        lambda p: f"[{round(min(p), 3)},{round(max(p), 3)}]")


VIDEO_MASKS = st.fixed_dictionaries({
    "num_blocks": st.integers(1, 12).map(str), "spatial_scale": scale_pair(),
    "temporal_scale": scale_pair(), "aspect_ratio": scale_pair().map(lambda s: s),
    "max_temporal_keep": st.floats(0.05, 1.0).map(lambda v: str(round(v, 3)))})
IMAGE_MASKS = st.fixed_dictionaries({
    "enc_mask_scale": scale_pair(), "pred_mask_scale": scale_pair(),
    "npred": st.integers(1, 6).map(str), "min_keep": st.integers(0, 40).map(str),
    "allow_overlap": st.booleans().map(str)})
GRIDS = st.sampled_from([(32, 8, 4), (64, 8, 8), (48, 16, 4), (64, 16, 2)])  # crop, patch, frames


@settings(SETTINGS, max_examples=12)
@given(recipe=st.sampled_from(TINY), grid=GRIDS, video=VIDEO_MASKS, image=IMAGE_MASKS,
       which=st.integers(0, 1))
def test_masks_either_fail_validation_naming_the_section_or_draw_for_every_step(
        recipe, grid, video, image, which) -> None:
    """Masks that cannot fit the grid (empty blocks, blocks covering it all, min_keep above any
    block) are rejected at validation; masks that pass draw non-empty context and targets at
    every step (a range that fails at some later step only was accepted before)."""
    crop, patch, frames = grid
    is_video = recipe.startswith("vjepa")
    section, values = (f"mask.video.{which}", video) if is_video else ("mask.image", image)
    overrides = [f"model.crop_size={crop}", f"model.patch_size={patch}",
                 *([f"model.num_frames={frames}"] if is_video else []),
                 *(f"{section}.{k}={v}" for k, v in values.items())]
    try:
        cfg = finalize("train", compose_with("train", recipe, overrides))
    except ValueError as error:
        assert str(error).startswith(("config mask", "config model")), str(error)
        return
    collator = build_collator_of(cfg)
    for step in range(20):
        enc, pred = collator.masks(step, 4)
        masks = [m for group in [*enc, *pred] for m in group]  # groups of [B, K] indices
        assert masks and all(m.shape[1] > 0 for m in masks), (overrides, step)


def build_collator_of(cfg):  # noqa: ANN001, ANN201
    from vjepa.train.build import build_collator

    m = cfg.model
    side = m.crop_size // m.patch_size
    grid = (m.num_frames // m.tubelet_size, side, side) if m.num_frames > 1 else (side, side)
    return build_collator(cfg.mask, grid, cfg.seed)


SMALL = ["model.embed_dim=32", "model.depth=1", "model.num_heads=2", "model.pred_depth=1",
         "model.pred_embed_dim=16"]
VALID_ISH = st.lists(st.sampled_from([
    "model.crop_size=32", "model.crop_size=48", "model.patch_size=16", "model.patch_size=4",
    "model.num_frames=2", "model.num_frames=6", "model.tubelet_size=1", "model.drop_path_rate=0.5",
    "model.uniform_power=false", "model.zero_init_mask_tokens=false", "model.loss_exp=2.0",
    "model.loss_type=smooth_l1", "model.pos_order=wh", "model.mask_token_layout=single",
    "model.num_mask_tokens=1", "data.batch_size=1", "data.num_clips=2", "optim.accum_steps=2",
    "optim.clip_grad=null", "optim.dtype=bfloat16", "mask.video.0.num_blocks=1",
    "mask.video.1.spatial_scale=[0.3,0.9]", "mask.image.npred=1", "mask.image.min_keep=0",
    "mask.image.allow_overlap=true", "mask.video.0.max_keep=3",
    "mask.video.1.max_temporal_keep=0.5"]), min_size=1, max_size=5)


@settings(SETTINGS, max_examples=8)
@given(recipe=st.sampled_from(TINY), overrides=VALID_ISH)
def test_no_override_crashes_validation_or_the_first_step(recipe, overrides) -> None:
    """An override set is either rejected with a config error or builds and takes a step
    (forward, backward) on random clips without an exception and with a finite loss."""
    try:
        cfg = finalize("train", compose_with("train", recipe, [*SMALL, *overrides]))
    except ValueError as error:
        assert str(error).startswith("config "), str(error)
        return
    torch.manual_seed(0)
    model, collator = build_core(cfg)
    m, b = cfg.model, cfg.data.batch_size
    shape = (b, 3, m.num_frames, m.crop_size, m.crop_size) if m.num_frames > 1 else \
        (b, 3, m.crop_size, m.crop_size)
    enc, pred = collator.masks(0, b)
    out = model(torch.randn(shape), enc, pred)
    out.loss.backward()
    assert math.isfinite(out.loss.item())


BAD = [("unknown key", ["optim.lrr=1e-3"], "lrr"), ("wrong type", ["data.batch_size=four"], "four"),
       ("negative size", ["model.crop_size=-64"], "-64"), ("batch below one", ["data.batch_size=0"],
                                                           "data.batch_size=0"),
       ("patch", ["model.patch_size=7"], "patch_size=7"),
       ("masks", ["mask.video.1.spatial_scale=[0.9,1.0]", "mask.video.1.num_blocks=4"],
        "mask.video[1]")]


@pytest.mark.parametrize("what, overrides, named", BAD, ids=[b[0] for b in BAD])
def test_train_refuses_before_building_data_or_model(what, overrides, named, tmp_path,
                                                     monkeypatch) -> None:
    import vjepa.train.main as train_main

    def reached(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError(f"{what}: data or model built")

    for name in ("build_trainer", "data_sources", "build_core", "build_train_dataset"):
        monkeypatch.setattr(train_main, name, reached)
    run_dir = tmp_path / "run"
    with pytest.raises((ValueError, ConfigCompositionException)) as err:
        train_main.run(compose_with("train", "vjepa_tiny", [f"run_dir={run_dir}", *overrides]))
    assert named in message(err.value)
    assert not run_dir.exists()


@pytest.mark.parametrize("overrides, named", [
    (["data.resolution=-16"], "data.resolution=-16"), (["probe.knn_k=0"], "probe.knn_k=0"),
    (["data.num_workers=-1"], "data.num_workers=-1"), (["device=tpu"], "device='tpu'")])
def test_eval_refuses_before_building_data_or_model(overrides, named, tmp_path,
                                                    monkeypatch) -> None:
    import vjepa.eval.engine as engine

    monkeypatch.setattr(engine, "setup", lambda *a, **k: pytest.fail("eval setup reached"))
    from vjepa.eval.main import run

    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=named.replace("[", r"\[")):
        run(compose_with("eval", "video_tiny", [f"run_dir={run_dir}", *overrides]))
    assert not run_dir.exists()


HOLES = [  # accepted before this suite, each failed later (or never) at run time
    ("train", "vjepa_tiny", ["dist.timeout_s=-1"], "config dist.timeout_s=-1"),
    ("train", "vjepa_tiny", ["data.decoder=pyavv"], "config data.decoder='pyavv'"),
    ("train", "vjepa_tiny", ["launcher=slurn"], "config launcher='slurn'"),
    ("train", "vjepa_tiny", ["data.sources=[a.csv,b.csv]", "data.weights=[1,-1]"],
     "config data.weights=[1.0, -1.0]"),
    ("train", "vjepa_tiny", ["mask.video.1.spatial_scale=[0.9,1.0]", "mask.video.1.num_blocks=4"],
     "config mask.video[1]"),
    ("train", "ijepa_tiny", ["mask.image.pred_mask_scale=[0.01,0.9]"], "config mask.image"),
    ("eval", "video_tiny", ["data.resolution=-5"], "config data.resolution=-5"),
    ("eval", "video_tiny", ["data.lowshot_fraction=1.5"], "config data.lowshot_fraction=1.5"),
    ("eval", "video_tiny", ["optim.lrs=[-1.0]"], "config optim.lrs=[-1.0]"),
    ("eval", "video_tiny", ["launcher=slurn"], "config launcher='slurn'"),
]


@pytest.mark.parametrize("command, recipe, overrides, named", HOLES,
                         ids=[" ".join(h[2]) for h in HOLES])
def test_holes_this_suite_found_are_rejected(command, recipe, overrides, named) -> None:
    with pytest.raises(ValueError) as err:
        finalize(command, compose_with(command, recipe, overrides))
    assert str(err.value).startswith(named), str(err.value)
