"""Helpers shared by the launch tests (tiny run configs, bounded waits); no tests here."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import submitit
from omegaconf import DictConfig, OmegaConf

from vjepa.slurm_config import SlurmConfig

TESTS = Path(__file__).resolve().parent
ENTRY = "launch_entry:counting_run"


def tiny_cfg(run_dir: Path, launcher: str, tasks: int = 2, **extra: object) -> DictConfig:
    """A run config for `counting_run`: CPU-only, one CPU per task, 3 steps."""
    slurm = SlurmConfig(gpus_per_node=0, tasks_per_node=tasks, cpus_per_task=1, time=5,
                        signal_delay_s=60, job_name="vjepa-test")
    return OmegaConf.create({"run_dir": str(run_dir), "launcher": launcher, "seed": 3, "steps": 3,
                             "slurm": OmegaConf.structured(slurm), **extra})


def let_jobs_import_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs are new processes (environment copied at submission): let them import tests/."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str,
               every_s: float = 0.25) -> None:
    """Poll a condition on real state (files, scheduler), failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(every_s)


def wait_done(job: submitit.Job, timeout_s: float = 300.0) -> submitit.Job:
    """Wait (bounded) until the job is over: result files written (checked at every poll) or
    the scheduler says it ended (submitit asks sacct every few seconds, not at every poll).
    The bound is generous: on a shared test cluster a job may queue behind others."""
    try:
        wait_until(job.done, timeout_s,
                   f"job {job.job_id} to end (log {job.paths.stdout})")
    except BaseException:
        job.cancel(check=False)
        raise
    return job


def require_slurm_up() -> str:
    """The test cluster's node name; fails (never skips) when Slurm is installed but down."""
    out = subprocess.run(["sinfo", "-h", "-o", "%n %a"], capture_output=True, text=True,
                         timeout=30)
    if out.returncode != 0 or " up" not in out.stdout:
        pytest.fail(f"VJEPA_SLURM_TESTS=1 but no Slurm partition is up "
                    f"({out.stderr.strip()!r}); see slurm/README.md, 'Testing the launch path'")
    return out.stdout.split()[0]


def wait_completed(job_id: str) -> None:
    """Wait until Slurm accounting reports the job COMPLETED (it lags the result file)."""
    from vjepa.launch.status import slurm_states

    wait_until(lambda: slurm_states([job_id])[job_id] == "COMPLETED", 60,
               f"sacct to report job {job_id} COMPLETED", every_s=1.0)
