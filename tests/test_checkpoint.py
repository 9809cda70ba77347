"""Checkpoint files: format checks, RNG round trip, atomic writes under SIGKILL."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

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
import sys, torch
from test_checkpoint import state_at
from vjepa.train.checkpoint import save_checkpoint
step = 0
while True:
    step += 1
    print(step, flush=True)
    save_checkpoint(state_at(step, numel=4_000_000), sys.argv[1], keep=False)
"""


def test_sigkill_during_save_leaves_a_loadable_latest(tmp_path):
    """Kill a process that rewrites a 16 MB `latest.pt` in a loop, at a random moment: the
    file left is a complete checkpoint of a step it reached, never a torn one."""
    caught_mid_write = False
    for attempt in range(4):
        folder = tmp_path / str(attempt)
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)],
                                stdout=subprocess.PIPE, text=True, cwd=str(tmp_path),
                                env={"PYTHONPATH": str(__import__("pathlib").Path(__file__)
                                                       .parent), "PATH": "/usr/bin:/bin"})
        steps = [int(proc.stdout.readline()) for _ in range(3)]
        time.sleep(random.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        temps = list((folder / "checkpoints").glob(".latest.pt.tmp*"))
        caught_mid_write |= bool(temps)
        state = load_checkpoint(latest_path(folder))
        assert steps[0] <= state["step"]
        assert torch.equal(state["encoder"]["w"], torch.full((4_000_000,), float(state["step"])))
        if caught_mid_write:
            break
    assert caught_mid_write, "no kill landed during a write; the test proved nothing"
    assert remove_stale_temps(folder) == temps and not list((folder / "checkpoints").glob(".*"))
    assert load_checkpoint(latest_path(folder))["step"] == state["step"]
