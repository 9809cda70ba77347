"""One adapter per checkpoint layout (vjepa.checkpoints.layouts.LAYOUTS) reads and writes it:
round trips per layout, against the official key names written out by hand in official_fakes,
and this project's own training checkpoints built from the config they record."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from official_fakes import encoder_state, predictor_state, probe_state
from omegaconf import OmegaConf

from vjepa.checkpoints.layouts import LAYOUTS, OFFICIAL, detect_layout, official
from vjepa.pretrained import load_pretrained
from vjepa.smoke import tiny_config
from vjepa.train.build import build_jepa
from vjepa.train.checkpoint import FORMAT, save_checkpoint


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


OFFICIAL_FILES = {  # layout -> (prefix written by hand, image or video geometry)
    "vjepa": ("module.backbone.", {}),
    "ijepa": ("module.", {"frames": 1, "order": "wh", "uniform_power": False}),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_FILES))
def test_official_layout_reads_to_internal_names_and_writes_back_the_same_keys(name) -> None:
    prefix, geometry = OFFICIAL_FILES[name]
    enc = encoder_state(prefix, **geometry)
    grid = {"grid": (4, 4), "num_mask_tokens": None} if geometry else {}
    pred = predictor_state(prefix, **grid, **{k: v for k, v in geometry.items() if k != "frames"})
    ckpt = {"encoder": enc, "target_encoder": enc, "predictor": pred, "epoch": 3}
    assert detect_layout(ckpt, "f") == name
    adapter = LAYOUTS[name]
    parts = {which: adapter.read(ckpt, which, "f") for which in ("target_encoder", "predictor")}
    assert not any(k.startswith("module.") for state in parts.values() for k in state)
    assert same(parts["target_encoder"], {k.removeprefix(prefix): v for k, v in enc.items()})
    written = adapter.write(parts, epoch=3)
    assert sorted(written) == ["epoch", "predictor", "target_encoder"] and written["epoch"] == 3
    assert same(written["target_encoder"], enc) and same(written["predictor"], pred)
    assert detect_layout(written, "f") == name


def test_probe_layout_round_trip() -> None:
    state = probe_state()
    ckpt = {"classifier": state, "epoch": 20}
    assert detect_layout(ckpt, "f") == "probe"
    internal = LAYOUTS["probe"].read(ckpt, "classifier", "f")
    assert "pooler.query_tokens" in internal and "linear.weight" in internal
    assert same(LAYOUTS["probe"].write({"classifier": internal})["classifier"], state)


@pytest.mark.parametrize("name", ["plain", "state_dict"])
def test_unwrapped_layouts_round_trip(name) -> None:
    enc = encoder_state("")
    written = LAYOUTS[name].write({"encoder": enc})
    assert detect_layout(written, "f") == name
    assert same(LAYOUTS[name].read(written, "encoder", "f"), enc)
    with pytest.raises(ValueError, match="one state dict and nothing else"):
        LAYOUTS["state_dict"].write({"encoder": enc, "predictor": enc})


def test_official_names_only_the_exported_layouts() -> None:
    assert [official(n).name for n in OFFICIAL] == ["vjepa", "ijepa"]
    with pytest.raises(ValueError, match="official layout must be one of .* got 'plain'"):
        official("plain")


@pytest.mark.parametrize("frames", [1, 4])
def test_own_checkpoint_round_trip_is_built_from_its_recorded_config(tmp_path: Path,
                                                                     frames: int) -> None:
    """A training checkpoint (as the trainer writes it) loads every part strictly, with the
    architecture of the config it records, and gives the same outputs as the saved model."""
    cfg = tiny_config(frames, img_size=32)
    torch.manual_seed(0)
    model = build_jepa(cfg.model).eval()
    states = {"encoder": model.encoder.state_dict(), "predictor": model.predictor.state_dict(),
              "target_encoder": model.target_encoder.state_dict()}
    assert LAYOUTS["vjepa-train"].write(states).keys() == states.keys()
    state = {**states, "optimizer": {}, "scaler": None, "step": 5, "epoch": 0, "rng": [],
             "sampler": {}, "version": "test", "format": FORMAT,
             "config": OmegaConf.to_container(OmegaConf.structured(cfg), enum_to_str=True)}
    path = save_checkpoint(state, tmp_path, keep=False)
    x = torch.randn(2, 3, frames, 32, 32) if frames > 1 else torch.randn(2, 3, 32, 32)
    for which in ("encoder", "target_encoder", "predictor"):
        pre = load_pretrained(path, which)
        assert pre.layout == "vjepa-train" and same(pre.model.state_dict(), states[which])
    pre = load_pretrained(path, "target_encoder")
    assert pre.arch.pos_order == ("hw" if frames > 1 else "wh")
    assert pre.arch.num_heads == cfg.model.num_heads
    with torch.no_grad():
        torch.testing.assert_close(pre.model(x), model.target_encoder(x), rtol=0, atol=0)
