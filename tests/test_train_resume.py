"""Exact resume: SIGKILL a CPU run at a random step, resume it, compare bit for bit with an
uninterrupted run."""

from __future__ import annotations

import csv
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from train_helpers import (
    assert_same_tensors,
    load_latest,
    run_here,
    subprocess_env,
    tiny_overrides,
    train_command,
)


def last_logged_step(run_dir: Path) -> int:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return 0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return int(float(rows[-1]["step"])) if rows else 0


def kill_at_step(overrides: list[str], run_dir: Path, step: int) -> int:
    """Start a run, SIGKILL it once it has logged `step`; returns the step it had reached."""
    proc = subprocess.Popen(train_command(overrides), env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    try:
        while last_logged_step(run_dir) < step:
            assert proc.poll() is None, f"run ended before step {step}: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "run too slow"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return last_logged_step(run_dir)


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    cache, total = tmp_path / "cache", 8
    full, cut = tmp_path / "full", tmp_path / "cut"
    run_here(tiny_overrides(full, cache, steps=total))  # also builds the synthetic set
    reached = kill_at_step(tiny_overrides(cut, cache, steps=total), cut,
                           random.Random().randint(2, total - 3))
    interrupted = load_latest(cut)
    assert 0 < interrupted["step"] < total, f"kill landed at step {reached}, too late"
    summary = run_here(tiny_overrides(cut, cache, steps=total))
    assert summary["step"] == total
    a, b = load_latest(full), load_latest(cut)
    assert a["step"] == b["step"] == total
    for key in ("encoder", "predictor", "target_encoder", "optimizer", "rng", "sampler"):
        assert_same_tensors(a[key], b[key], key)
    # the metric curve of the resumed run has each step once
    steps = [int(float(r["step"])) for r in csv.DictReader(open(cut / "metrics.csv"))]
    assert steps == list(range(1, total + 1))


def test_resume_refuses_a_changed_recipe(tmp_path):
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    run_here(tiny_overrides(run_dir, cache, steps=4, ipe=2))
    with pytest.raises(ValueError, match=r"optim.lr: 0.0002 -> 0.0005"):
        run_here(tiny_overrides(run_dir, cache, steps=4, ipe=2) + ["optim.lr=5e-4"])
    summary = run_here(tiny_overrides(run_dir, cache, steps=6, ipe=2)
                       + ["resume_check=false", "data.num_workers=1"])
    assert summary["step"] == 6  # continued from step 4 under the changed recipe
    assert load_latest(run_dir)["config"]["optim"]["epochs"] == 3
