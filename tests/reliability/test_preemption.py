"""Guarantee 1 on the CPU: SIGTERM / SIGUSR1 / SIGINT in the middle of a step make `vjepa
train` finish that step, checkpoint it (no periodic checkpoint is due), print one line with
the step and the resume command, and exit 128 + signal; running that command ends bit for bit
where an uninterrupted run ends. SIGINT goes to the whole process group, as a terminal's
Ctrl-C does, DataLoader workers included."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from launch_support import wait_until
from train_helpers import assert_same_tensors, load_latest, run_here, subprocess_env

from vjepa.cli import main as vjepa
from vjepa.train.signals import StopRequests

HERE = Path(__file__).resolve().parent
TOTAL, HOLD = 6, 2


def overrides(run_dir: Path, cache: Path, workers: int) -> list[str]:
    from train_helpers import tiny_overrides

    base = [o for o in tiny_overrides(run_dir, cache, steps=TOTAL, ipe=3)
            if not o.startswith(("logging.checkpoint_every=", "data.num_workers="))]
    return [*base, "logging.checkpoint_every=100", f"data.num_workers={workers}"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("preempt")
    run_here(overrides(root / "full", root / "cache", 0))
    return root / "cache", load_latest(root / "full")


def interrupt(args: list[str], sig: signal.Signals, ready: Path,
              group: bool) -> subprocess.CompletedProcess:
    env = subprocess_env(VJEPA_TEST_HOLD_STEP=str(HOLD), VJEPA_TEST_READY=str(ready),
                         PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(HERE / "hold_entry.py"), "train", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_until(lambda: ready.is_file() or proc.poll() is not None, 180, "step HOLD")
        assert proc.poll() is None, proc.communicate()[1]
        os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def vjepa_here(args: list[str]) -> int:
    """`vjepa <args>` in this process with one thread, as the console script runs it."""
    argv, threads = sys.argv, torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return vjepa(args)
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)


@pytest.mark.parametrize(("sig", "workers", "group"), [
    (signal.SIGTERM, 0, False), (signal.SIGUSR1, 0, False), (signal.SIGINT, 2, True)])
def test_signal_finishes_the_step_checkpoints_and_resumes_bit_identical(
    reference, tmp_path: Path, sig: signal.Signals, workers: int, group: bool
) -> None:
    cache, want = reference
    run_dir = tmp_path / "run"
    done = interrupt(overrides(run_dir, cache, workers), sig, tmp_path / "ready", group)
    assert done.returncode == 128 + sig, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("vjepa train:")]
    assert len(lines) == 1, done.stderr
    assert f"stopped by {sig.name} at step {HOLD + 1} of {TOTAL}" in lines[0]
    assert "Traceback" not in done.stderr, done.stderr
    assert load_latest(run_dir)["step"] == HOLD + 1  # the step in flight, not a periodic one
    command = shlex.split(lines[0].split("resume with: ", 1)[1])
    assert command[:2] == ["vjepa", "train"] and f"run_dir={run_dir}" in command
    assert vjepa_here(command[1:]) == 0  # the printed command, run in this process
    got = load_latest(run_dir)
    for part in ("encoder", "predictor", "target_encoder", "optimizer", "step"):
        assert_same_tensors(got[part], want[part], part)


def test_a_second_ctrl_c_stops_at_once() -> None:
    with StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signum == signal.SIGINT  # the first one is only recorded
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_importing_the_hold_entry_holds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slurm tests import hold_entry in the pytest process to submit `hold_entry:train`;
    the hold must stay in the job (a patch on import held every later in-process run)."""
    import importlib

    from vjepa.train.loop import Trainer

    before = Trainer.run_step
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("VJEPA_TEST_HOLD_STEP", "0")
    importlib.reload(importlib.import_module("hold_entry"))
    assert Trainer.run_step is before
