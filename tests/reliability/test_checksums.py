"""Guarantee 2: silent corruption is detected. A flipped byte inside a stored tensor loads
without error through torch / safetensors alone; our readers name the file and the tensor.
A corrupted latest.pt is resumed from the newest good kept copy only with resume_fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from faults import flip_in_safetensors, flip_in_torch_zip
from official_fakes import vjepa_file
from safetensors.torch import load_file
from train_helpers import run_here, tiny_overrides

from vjepa.checkpoints.checksums import ChecksumMismatchError
from vjepa.checkpoints.errors import CheckpointError
from vjepa.eval.extract import read_features, write_features
from vjepa.export import export_official, export_safetensors
from vjepa.features import Features
from vjepa.pretrained import load_pretrained
from vjepa.train.checkpoint import load_checkpoint


def _train(run_dir: Path, cache: Path, *extra: str) -> dict:
    return run_here([*tiny_overrides(run_dir, cache, steps=4, ipe=2), "logging.keep_every=2",
                     *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("ckpt")
    summary = _train(root / "run", root / "cache")
    return root / "run", root / "cache", summary


def test_a_flipped_tensor_byte_names_the_file_and_tensor(trained, tmp_path: Path) -> None:
    run_dir, _, _ = trained
    copy = tmp_path / "latest.pt"
    copy.write_bytes((run_dir / "checkpoints" / "latest.pt").read_bytes())
    flip_in_torch_zip(copy)
    torch.load(copy, map_location="cpu", weights_only=True)  # torch alone sees nothing
    with pytest.raises(ChecksumMismatchError, match=r"tensor '[\w.]+' fails its checksum") as err:
        load_checkpoint(copy)
    assert str(copy) in str(err.value)
    with pytest.raises(ChecksumMismatchError, match="fails its checksum"):
        load_pretrained(copy)  # the public reader checks as well


def test_corrupted_latest_needs_resume_fallback_and_says_what_it_skipped(
    trained, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_dir, cache, reference = trained
    broken = tmp_path / "run"
    (broken / "checkpoints").mkdir(parents=True)
    for name in ("latest.pt", "step_00000002.pt", "step_00000004.pt"):
        (broken / "checkpoints" / name).write_bytes((run_dir / "checkpoints" / name).read_bytes())
    flip_in_torch_zip(broken / "checkpoints" / "latest.pt")
    flip_in_torch_zip(broken / "checkpoints" / "step_00000004.pt")  # a hard link of latest
    with pytest.raises(CheckpointError, match=r"kept copies: step_00000004.pt, "
                                              r"step_00000002.pt; rerun with resume_fallback"):
        _train(broken, cache)
    with caplog.at_level(logging.WARNING, logger="vjepa"):
        resumed = _train(broken, cache, "resume_fallback=true")
    skipped = [r.getMessage() for r in caplog.records if "resume_fallback" in r.getMessage()]
    assert any("latest.pt" in m and "fails its checksum" in m for m in skipped), skipped
    assert any("step_00000004.pt" in m and "fails its checksum" in m for m in skipped), skipped
    assert any("resuming from" in m and "step_00000002.pt (step 2)" in m for m in skipped)
    # it retrained steps 2..4 from the good copy: the same weights as the unbroken run
    assert resumed["param_digest"] == reference["param_digest"]


def test_export_and_feature_files_verify_their_tensors(tmp_path: Path) -> None:
    src = vjepa_file(tmp_path / "official.pth.tar")
    enc = load_pretrained(src)
    folder = export_safetensors(enc, tmp_path / "export")
    official = export_official(enc, tmp_path / "back.pth.tar", "vjepa")
    flip_in_safetensors(folder / "model.safetensors")
    load_file(folder / "model.safetensors")  # safetensors alone sees nothing
    with pytest.raises(ChecksumMismatchError, match=r"model.safetensors: tensor 'encoder\."):
        load_pretrained(folder)
    flip_in_torch_zip(official)
    with pytest.raises(ChecksumMismatchError, match=r"back.pth.tar: tensor '"):
        load_pretrained(official)
    feats = Features(features=torch.randn(3, 8), pool="mean")
    path = tmp_path / "f.safetensors"
    write_features(path, feats, {"source": "x", "label": "null", "pool": "mean",
                                 "layers": "null", "config": "{}", "fps": "null",
                                 "num_source_frames": "null"})
    read_features(path)
    flip_in_safetensors(path)
    with pytest.raises(ChecksumMismatchError, match=r"f.safetensors: tensor 'features'"):
        read_features(path)
