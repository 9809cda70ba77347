"""Guarantee 4: a checkpoint or feature write that fails (disk full, read-only folder) leaves
the previous file intact and raises an error naming the path and the cause; a training run
logs a failed scheduled checkpoint and goes on from its in-memory state, so the next attempt
writes exactly what an undisturbed run writes.

The full disk and the read-only folder are real (a tiny tmpfs, remounted read-only: the tests
run as root, where permissions alone block nothing); where mounting is not permitted, the
patched-writer test still checks the same paths."""

from __future__ import annotations

import errno
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from train_helpers import assert_same_tensors, load_latest, run_here, tiny_overrides

import vjepa.train.checkpoint as checkpoint_module
from vjepa.checkpoints.errors import WriteError
from vjepa.eval.extract import read_features, write_features
from vjepa.features import Features
from vjepa.train.checkpoint import load_checkpoint

STEPS = 6


def overrides(run_dir: Path, cache: Path) -> list[str]:
    base = [o for o in tiny_overrides(run_dir, cache, steps=STEPS, ipe=3)
            if not o.startswith("logging.checkpoint_every=")]
    return [*base, "logging.checkpoint_every=2"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("disk")
    run_here(overrides(root / "full", root / "cache"))
    return root / "cache", load_latest(root / "full")


def mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the patched-writer "
                    "test covers the same code paths")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """tmp_path/small: a tmpfs mounted by the test (size set by mount_tmpfs), unmounted after."""
    folder = tmp_path / "small"
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_failed_scheduled_checkpoint_is_logged_and_the_next_one_catches_up(
    reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    cache, want = reference
    run_dir = tmp_path / "run"
    real, calls = checkpoint_module.torch.save, []

    def save(obj, f) -> None:  # noqa: ANN001 (torch.save's signature)
        calls.append(int(obj["step"]))
        if len(calls) == 2:  # the checkpoint of step 4: the disk is full
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real(obj, f)

    monkeypatch.setattr(checkpoint_module.torch, "save", save)
    with caplog.at_level(logging.ERROR, logger="vjepa"):
        summary = run_here(overrides(run_dir, cache))
    latest = run_dir / "checkpoints" / "latest.pt"
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert f"step 4: checkpoint not written: cannot write {latest}: No space left" in error
    assert calls == [2, 4, 6] and summary["step"] == STEPS
    assert not list(latest.parent.glob(".*tmp*"))  # no partial file left behind
    got = load_latest(run_dir)  # the step-6 write: the in-memory state carried on intact
    for part in ("encoder", "predictor", "target_encoder", "optimizer", "step"):
        assert_same_tensors(got[part], want[part], part)


def test_a_full_tmpfs_keeps_the_previous_checkpoint_and_names_path_and_cause(
    reference, tmpfs: Path
) -> None:
    cache, _ = reference
    one = (cache.parent / "full" / "checkpoints" / "latest.pt").stat().st_size
    mount_tmpfs(tmpfs, f"{one * 3 // 2}")  # room for one checkpoint, not for its successor
    run_dir = tmpfs / "run"
    with pytest.raises(WriteError, match=rf"cannot write {run_dir}/checkpoints/latest.pt: "
                                         r"No space left on device"):
        run_here(overrides(run_dir, cache))  # the final checkpoint must be written: raises
    kept = load_checkpoint(run_dir / "checkpoints" / "latest.pt")  # intact, checksums agree
    assert kept["step"] == 2
    assert not list((run_dir / "checkpoints").glob(".*tmp*"))


def test_a_read_only_folder_keeps_the_old_feature_file(tmp_path: Path, tmpfs: Path) -> None:
    mount_tmpfs(tmpfs, "1m")
    path = tmpfs / "a.mp4.safetensors"
    meta = {"source": "a", "label": "null", "pool": "mean", "layers": "null", "config": "{}",
            "fps": "null", "num_source_frames": "null"}
    old = torch.arange(6.0).reshape(2, 3)
    write_features(path, Features(features=old, pool="mean"), meta)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(WriteError, match=rf"cannot write {path}: Read-only file system"):
        write_features(path, Features(features=old + 1, pool="mean"), meta)
    torch.testing.assert_close(read_features(path)[0].features, old, rtol=0, atol=0)
