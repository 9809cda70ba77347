"""Guarantee 1 on the real Slurm cluster (opt-in, VJEPA_SLURM_TESTS=1): a job stopped in the
middle of a step by Slurm itself finishes the step, checkpoints it, is requeued and ends bit
for bit like an uninterrupted run (one CPU rank, one thread).

- `scontrol requeue`: Slurm sends SIGTERM, kills after KillWait and requeues the job itself;
- the time limit with `--signal=USR2@N` (slurm.signal_delay_s): submitit's requeue handler
  takes over after the checkpoint.

The step held (tests/reliability/hold_entry.py) waits for the signal, so no test guesses when
Slurm's signal comes; each waits on files and the scheduler only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from launch_support import require_slurm_up, wait_done, wait_until
from train_helpers import assert_same_tensors, load_latest, run_here, tiny_overrides

from vjepa.launch import submit
from vjepa.train.hydra_config import compose

pytestmark = pytest.mark.slurm  # opt-in: VJEPA_SLURM_TESTS=1 (tests/conftest.py)
HERE = Path(__file__).resolve().parent
TOTAL, HOLD = 6, 2
CPU_JOB = ["launcher=slurm", "slurm.gpus_per_node=0", "slurm.cpus_per_task=1",
           "slurm.tasks_per_node=1", "slurm.job_name=vjepa-test"]


def overrides(run_dir: Path, cache: Path) -> list[str]:
    base = [o for o in tiny_overrides(run_dir, cache, steps=TOTAL, ipe=3)
            if not o.startswith("logging.checkpoint_every=")]
    return [*base, "logging.checkpoint_every=100"]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    require_slurm_up()
    root = tmp_path_factory.mktemp("slurm_preempt")
    cache = root / "cache"
    run_here(overrides(root / "full", cache))  # the reference, and the synthetic set
    submitted = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
        mp.setenv("OMP_NUM_THREADS", "1")  # as the reference: bit for bit needs one thread
        for name, limits in (("requeue", ["slurm.time=5", "slurm.signal_delay_s=60"]),
                             # 60 s before the signal: a 1-minute limit (signal after 20 s)
                             # sent it before step HOLD on a loaded machine, and the requeued
                             # job timed out again (submitit: "timed-out too many times")
                             ("timelimit", ["slurm.time=2", "slurm.signal_delay_s=60"])):
            mp.setenv("VJEPA_TEST_HOLD_STEP", str(HOLD))
            mp.setenv("VJEPA_TEST_READY", str(root / f"{name}.ready"))
            cfg = compose([*overrides(root / name, cache), *CPU_JOB, *limits])
            submitted[name] = submit(cfg, "hold_entry:train")
    yield root, submitted
    for job in submitted.values():
        if not job.done():
            job.cancel(check=False)


def check_resumed(root: Path, name: str, signal_name: str, results: list) -> None:
    assert [r["step"] for r in results] == [TOTAL]
    log = (root / name / "train.log").read_text()
    assert f"received {signal_name}: finishing this step" in log
    assert f"at step {HOLD + 1} (epoch" in log  # resumed from the step in flight
    got, want = load_latest(root / name), load_latest(root / "full")
    for part in ("encoder", "predictor", "target_encoder", "optimizer", "step"):
        assert_same_tensors(got[part], want[part], part)


def test_scontrol_requeue_checkpoints_the_step_in_flight_and_resumes(jobs) -> None:
    root, submitted = jobs
    job = submitted["requeue"]
    wait_until((root / "requeue.ready").is_file, 300, f"job {job.job_id} to hold step {HOLD}")
    subprocess.run(["scontrol", "requeue", job.job_id], check=True)
    check_resumed(root, "requeue", "SIGTERM", wait_done(job, 300).results())


def test_time_limit_signal_checkpoints_requeues_and_resumes(jobs) -> None:
    root, submitted = jobs
    job = submitted["timelimit"]
    check_resumed(root, "timelimit", "SIGUSR2", wait_done(job, 400).results())
