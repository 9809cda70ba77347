"""load_pretrained: official layouts, architecture inference, strict errors, broken files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from official_fakes import (
    encoder_state,
    ijepa_file,
    predictor_state,
    pretrain_file,
    vjepa_file,
)

from vjepa.checkpoints.errors import (
    CheckpointError,
    StateDictMismatchError,
    UnsupportedCheckpointError,
)
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer
from vjepa.pretrained import load_pretrained

PREFIX = "module.backbone."


def _same_weights(model: torch.nn.Module, state: dict, prefix: str) -> None:
    got = model.state_dict()
    assert sorted(got) == sorted(k.removeprefix(prefix) for k in state)
    for key, value in state.items():
        torch.testing.assert_close(got[key.removeprefix(prefix)], value, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("frames", "img", "patch", "tubelet", "uniform_power"),
    [(4, 32, 8, 2, True), (8, 32, 8, 2, False), (6, 24, 4, 3, True), (2, 48, 16, 1, False)],
)
def test_vjepa_layout_infers_architecture(tmp_path: Path, frames: int, img: int, patch: int,
                                         tubelet: int, uniform_power: bool) -> None:
    kwargs = dict(frames=frames, img=img, patch=patch, tubelet=tubelet,
                  uniform_power=uniform_power)
    path = vjepa_file(tmp_path / "vitl16.pth.tar", **kwargs)
    pre = load_pretrained(path)
    arch = pre.arch
    assert (pre.layout, pre.which, pre.epoch) == ("vjepa", "target_encoder", 7)
    assert (arch.num_frames, arch.img_size, arch.patch_size, arch.tubelet_size) == (
        frames, (img, img), patch, tubelet)
    assert (arch.embed_dim, arch.depth, arch.num_heads, arch.mlp_ratio) == (192, 2, 3, 4.0)
    assert arch.uniform_power is uniform_power and arch.qkv_bias
    assert isinstance(pre.model, VisionTransformer) and not pre.model.training
    assert (pre.preprocess.resolution, pre.preprocess.num_frames) == ((img, img), frames)
    assert pre.preprocess.frame_step == 4
    ckpt = torch.load(path, weights_only=True)
    _same_weights(pre.model, ckpt["target_encoder"], PREFIX)
    _same_weights(load_pretrained(path, "encoder").model, ckpt["encoder"], PREFIX)


def test_vjepa_predictor(tmp_path: Path) -> None:
    path = vjepa_file(tmp_path / "v.pth.tar")
    pre = load_pretrained(path, "predictor")
    assert isinstance(pre.model, Predictor)
    arch = pre.arch
    assert (arch.predictor_embed_dim, arch.depth, arch.num_heads) == (48, 2, 3)
    assert (arch.mask_token_layout, arch.num_mask_tokens, arch.uniform_power) == (
        "per_config", 2, True)
    _same_weights(pre.model, torch.load(path, weights_only=True)["predictor"], PREFIX)


def test_ijepa_layout(tmp_path: Path) -> None:
    path = ijepa_file(tmp_path / "IN1K-vit.h.14-300e.pth.tar")
    pre = load_pretrained(path)
    assert pre.layout == "ijepa" and pre.arch.pos_order == "wh" and pre.arch.num_frames == 1
    assert pre.preprocess.frame_step == 1 and pre.preprocess.resolution == (32, 32)
    pred = load_pretrained(path, "predictor")
    assert pred.arch.mask_token_layout == "single" and pred.arch.pos_order == "wh"
    ckpt = torch.load(path, weights_only=True)
    _same_weights(pre.model, ckpt["target_encoder"], "module.")
    _same_weights(pred.model, ckpt["predictor"], "module.")


TINY_MODEL = {"size": "large", "embed_dim": 96, "depth": 2, "num_heads": 4, "crop_size": 32,
              "patch_size": 8, "num_frames": 4, "tubelet_size": 2, "uniform_power": True,
              "pred_depth": 2, "pred_embed_dim": 48, "num_mask_tokens": 2}


def _train_file(path: Path, model: dict) -> Path:
    enc = encoder_state("", width=96)
    torch.save({"format": "vjepa-checkpoint-v1", "encoder": enc, "target_encoder": enc,
                "predictor": predictor_state("", width=96), "step": 10, "epoch": 1,
                "config": {"model": model, "data": {"frame_step": 2}}}, path)
    return path


def test_training_checkpoint_and_bare_state_dict(tmp_path: Path) -> None:
    _train_file(tmp_path / "latest.pt", TINY_MODEL)
    pre = load_pretrained(tmp_path / "latest.pt")
    assert pre.layout == "vjepa-train" and pre.arch.num_heads == 4
    assert pre.preprocess.frame_step == 2
    assert load_pretrained(tmp_path / "latest.pt", "predictor").arch.num_heads == 4
    torch.save(encoder_state("", width=96), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="pass num_heads"):
        load_pretrained(tmp_path / "bare.pt")
    assert load_pretrained(tmp_path / "bare.pt", num_heads=4).layout == "state_dict"


def test_a_training_checkpoint_is_built_from_its_recorded_config(tmp_path: Path) -> None:
    """The architecture comes from the recorded model config, not from the tensors: a config
    that disagrees with them fails the strict load (it would infer fine), a pin that disagrees
    with the config is refused, and a checkpoint without a model config names that."""
    _train_file(tmp_path / "wide.pt", {**TINY_MODEL, "embed_dim": 192})
    with pytest.raises(CheckpointError, match=r"shape mismatch norm.weight: checkpoint \[96\]"):
        load_pretrained(tmp_path / "wide.pt")
    _train_file(tmp_path / "ok.pt", TINY_MODEL)
    with pytest.raises(CheckpointError, match=r"num_heads=6 \(recorded 4\)"):
        load_pretrained(tmp_path / "ok.pt", num_heads=6)
    assert load_pretrained(tmp_path / "ok.pt", num_heads=4).arch.num_heads == 4
    _train_file(tmp_path / "none.pt", None)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="records no model config"):
        load_pretrained(tmp_path / "none.pt")


def _save_vjepa(path: Path, encoder: dict) -> Path:
    return pretrain_file(path, PREFIX, encoder, predictor_state(PREFIX))


def test_missing_unexpected_and_misshaped_keys_are_listed(tmp_path: Path) -> None:
    cases = {}
    enc = encoder_state(PREFIX)
    del enc[PREFIX + "blocks.1.mlp.fc2.bias"]
    cases["missing"] = enc
    enc = encoder_state(PREFIX)
    enc[PREFIX + "blocks.0.attn.q_norm.weight"] = torch.ones(64)
    cases["unexpected"] = enc
    enc = encoder_state(PREFIX)
    enc[PREFIX + "norm.bias"] = torch.zeros(191)
    cases["mismatched"] = enc
    for kind, enc in cases.items():
        path = _save_vjepa(tmp_path / f"{kind}.pth.tar", enc)
        with pytest.raises(StateDictMismatchError) as info:
            load_pretrained(path)
        err = info.value
        assert str(path) in str(err)
        listed = {"missing": err.missing, "unexpected": err.unexpected,
                  "mismatched": [m[0] for m in err.mismatched]}
        want = {"missing": ["blocks.1.mlp.fc2.bias"], "unexpected": ["blocks.0.attn.q_norm.weight"],
                "mismatched": ["norm.bias"]}
        for name, keys in listed.items():
            assert keys == (want[name] if name == kind else [])
            for key in keys:
                assert key in str(err)


def test_rope_and_vjepa21_fail_clearly(tmp_path: Path) -> None:
    enc = encoder_state(PREFIX)
    del enc[PREFIX + "pos_embed"]
    path = _save_vjepa(tmp_path / "vitl.pt", enc)
    with pytest.raises(UnsupportedCheckpointError, match="RoPE"):
        load_pretrained(path)
    torch.save({"ema_encoder": encoder_state(PREFIX)}, tmp_path / "v21.pt")
    with pytest.raises(UnsupportedCheckpointError, match="2.1"):
        load_pretrained(tmp_path / "v21.pt")


def test_grid_needs_arguments_when_table_is_not_sincos(tmp_path: Path) -> None:
    enc = encoder_state(PREFIX, frames=16, img=32)  # 8 x 4 x 4 = 128 tokens = 2 x 8 x 8
    enc[PREFIX + "pos_embed"] = torch.randn(1, 128, 192)
    path = _save_vjepa(tmp_path / "learned.pt", enc)
    with pytest.raises(CheckpointError, match="pass num_frames and img_size"):
        load_pretrained(path)
    pre = load_pretrained(path, num_frames=16, img_size=32)
    assert (pre.arch.num_frames, pre.arch.img_size) == (16, (32, 32))
    with pytest.raises(CheckpointError, match="fits no token grid"):
        load_pretrained(path, num_frames=16, img_size=48)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing"])
def test_broken_files_name_the_file(tmp_path: Path, damage: str) -> None:
    good = vjepa_file(tmp_path / "good.pth.tar")
    path = tmp_path / f"{damage}.pth.tar"
    data = good.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "garbage":
        path.write_bytes(b"<html>403 Forbidden</html>" * 40)
    elif damage == "empty":
        path.write_bytes(b"")
    with pytest.raises(CheckpointError) as info:
        load_pretrained(path)
    assert str(path) in str(info.value)


def test_python_objects_need_trust(tmp_path: Path) -> None:
    path = tmp_path / "objects.pth.tar"
    torch.save({"target_encoder": encoder_state(PREFIX), "epoch": 1,
                "args": Path("/data/run")}, path)
    with pytest.raises(CheckpointError, match="trust_pickle=True"):
        load_pretrained(path)
    assert load_pretrained(path, trust_pickle=True).layout == "vjepa"


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'decoder'"):
        load_pretrained(tmp_path / "x.pt", which="decoder")
    path = vjepa_file(tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match="no 'classifier'"):
        load_pretrained(path, "classifier")
    with pytest.raises(CheckpointError, match="does not divide width"):
        load_pretrained(path, num_heads=5)


def test_legacy_format_file_loads(tmp_path: Path) -> None:
    """Files from before torch's zip format are read without memory-mapping."""
    path = tmp_path / "legacy.pth.tar"
    torch.save({"target_encoder": encoder_state(PREFIX), "epoch": 3}, path,
               _use_new_zipfile_serialization=False)
    pre = load_pretrained(path)
    assert pre.layout == "vjepa" and pre.epoch == 3
    _same_weights(pre.model, torch.load(path, weights_only=True)["target_encoder"], PREFIX)


def test_half_precision_file_loads_as_float32(tmp_path: Path) -> None:
    enc = {k: v.half() for k, v in encoder_state(PREFIX).items()}
    path = _save_vjepa(tmp_path / "fp16.pth.tar", enc)
    pre = load_pretrained(path)
    assert {p.dtype for p in pre.model.parameters()} == {torch.float32}
    assert not pre.model.pos_embed.requires_grad and pre.model.norm.weight.requires_grad
    stored = torch.load(path, weights_only=True)["target_encoder"]
    assert {v.dtype for v in stored.values()} == {torch.float16}
    _same_weights(pre.model, {k: v.float() for k, v in stored.items()}, PREFIX)


@pytest.mark.parametrize(("width", "hidden"), [(88, 120), (96, 200)])
def test_mlp_width_survives_float_rounding(tmp_path: Path, width: int, hidden: int) -> None:
    """int(width * hidden / width) can fall one short of hidden; the inferred ratio must not."""
    enc = encoder_state(PREFIX, width=width, depth=1, mlp_ratio=hidden / width)
    assert enc[PREFIX + "blocks.0.mlp.fc1.weight"].shape[0] == hidden
    pre = load_pretrained(_save_vjepa(tmp_path / "w.pt", enc), num_heads=8 if width % 8 == 0
                          else 4)
    assert pre.model.blocks[0].mlp.fc1.out_features == hidden
