"""Checkpoint files: format checks, RNG round trip, atomic writes under SIGKILL."""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from vjepa.train.checkpoint import (
    FORMAT,
    REQUIRED_KEYS,
    capture_rng,
    latest_path,
    load_checkpoint,
    remove_stale_temps,
    restore_rng,
    save_checkpoint,
)


def state_at(step: int, numel: int = 16) -> dict:
    state = {k: None for k in REQUIRED_KEYS}
    state.update(encoder={"w": torch.full((numel,), float(step))}, predictor={},
                 target_encoder={}, optimizer={}, step=step, epoch=0, rng=[capture_rng()],
                 sampler={"micro_step": step}, config={}, version="test", format=FORMAT)
    return state


def test_save_keep_and_load(tmp_path):
    save_checkpoint(state_at(1), tmp_path, keep=False)
    save_checkpoint(state_at(2), tmp_path, keep=True)
    save_checkpoint(state_at(3), tmp_path, keep=False)
    assert load_checkpoint(latest_path(tmp_path))["step"] == 3
    kept = load_checkpoint(tmp_path / "checkpoints" / "step_00000002.pt")
    assert kept["step"] == 2 and torch.equal(kept["encoder"]["w"], torch.full((16,), 2.0))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "latest.pt", "step_00000002.pt"]


def test_incomplete_or_foreign_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="lacks keys"):
        save_checkpoint({"step": 1}, tmp_path, keep=False)
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a vjepa-checkpoint-v1"):
        load_checkpoint(tmp_path / "x.pt")


def test_rng_states_round_trip():
    state = capture_rng()
    a = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


WRITER = """
import io, sys, torch
from test_checkpoint import state_at
from vjepa.train.checkpoint import save_checkpoint
stop_at, real_save = int(sys.argv[2]), torch.save

def torn_save(obj, f):  # at step stop_at: write half the bytes, then wait to be killed
    if obj["step"] == stop_at:
        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        f.flush()
        print("mid-write", flush=True)
        sys.stdin.readline()
    real_save(obj, f)

torch.save = torn_save
for step in range(1, stop_at + 1):
    save_checkpoint(state_at(step, numel=100_000), sys.argv[1], keep=False)
"""


@pytest.mark.parametrize("stop_at", [1, 3])
def test_sigkill_during_save_leaves_a_loadable_latest(tmp_path, stop_at):
    """SIGKILL a process in the middle of writing a checkpoint (half its bytes written): the
    `latest.pt` left is the previous complete checkpoint (or none at the first save), never a
    torn one, and the torn temp file is removed on resume."""
    tests = str(__import__("pathlib").Path(__file__).parent)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(stop_at)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": tests, "PATH": "/usr/bin:/bin"})
    assert proc.stdout.readline().strip() == "mid-write"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    temps = list((tmp_path / "checkpoints").glob(".latest.pt.tmp*"))
    assert len(temps) == 1 and temps[0].stat().st_size > 0  # the torn write is there
    if stop_at == 1:
        assert latest_path(tmp_path) is None  # nothing complete was ever written
    else:
        state = load_checkpoint(latest_path(tmp_path))
        assert state["step"] == stop_at - 1
        assert torch.equal(state["encoder"]["w"], torch.full((100_000,), float(stop_at - 1)))
    assert remove_stale_temps(tmp_path) == temps
    assert not list((tmp_path / "checkpoints").glob(".*"))
