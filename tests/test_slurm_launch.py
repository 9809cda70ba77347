"""The job object on a REAL Slurm cluster (opt-in, VJEPA_SLURM_TESTS=1; see slurm/README.md):
a job that Slurm requeues by itself (`scontrol requeue`) resumes, a cancelled job resolves in the
caller, and `submit_array` runs a sweep as one job array. A tiny entry point
(tests/launch_entry.py); the real training's DDP, preemption through submitit's signal,
failure and Hydra sweep runs are in test_slurm_train.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import submitit
from launch_support import (
    ENTRY,
    let_jobs_import_tests,
    require_slurm_up,
    tiny_cfg,
    wait_completed,
    wait_done,
    wait_until,
)

from vjepa.launch import main, submit, submit_array

pytestmark = pytest.mark.slurm  # opt-in: VJEPA_SLURM_TESTS=1 (conftest.py)


@pytest.fixture(scope="module")
def node() -> str:
    return require_slurm_up()


@pytest.fixture(autouse=True)
def _jobs_import_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    let_jobs_import_tests(monkeypatch)


def test_a_job_requeued_by_slurm_resumes_from_its_checkpoint(tmp_path: Path, node: str) -> None:
    run_dir = tmp_path / "run"
    job = submit(tiny_cfg(run_dir, "slurm", tasks=1, steps=4, pause_at=2), ENTRY)
    wait_until((run_dir / "paused").is_file, 300, f"job {job.job_id} to reach step 2")
    # what a node failure or PreemptMode=REQUEUE does: Slurm kills and requeues the job itself
    subprocess.run(["scontrol", "requeue", job.job_id], check=True, capture_output=True)
    result = wait_done(job).result()
    assert (result["start_step"], result["final_step"], result["checksum"]) == (2, 4, 1 * 4 * 3)
    assert (run_dir / "starts.txt").read_text().split() == ["0", "2"]  # two attempts


def test_a_cancelled_job_resolves(tmp_path: Path, node: str) -> None:
    run_dir = tmp_path / "run"
    job = submit(tiny_cfg(run_dir, "slurm", tasks=1, pause_at=1), ENTRY)
    wait_until((run_dir / "paused").is_file, 300, f"job {job.job_id} to start")
    job.cancel()
    wait_done(job)
    job._results_timeout_s = 1  # local disk: no network-filesystem lag to wait 15 s for
    with pytest.raises(submitit.core.utils.UncompletedJobError):
        job.result()
    assert job.state.startswith("CANCELLED")


def test_a_sweep_as_a_job_array_returns_one_result_per_setting(
    tmp_path: Path, node: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = [2, 5]
    cfgs = [tiny_cfg(tmp_path / f"seed{s}", "slurm", tasks=1, seed=s) for s in seeds]
    jobs = submit_array(cfgs, ENTRY)
    array_id = jobs[0].job_id.split("_")[0]
    assert [j.job_id for j in jobs] == [f"{array_id}_{i}" for i in range(len(seeds))]
    results = [wait_done(j).result() for j in jobs]
    assert [(r["seed"], r["checksum"], r["final_step"]) for r in results] == [
        (s, 1 * 3 * s, 3) for s in seeds]
    assert (tmp_path / "slurm").is_dir()  # one submitit folder for the array, beside the runs
    for j in jobs:
        wait_completed(j.job_id)
    capsys.readouterr()
    assert main([str(tmp_path)]) == 0  # the sweep's root lists every run
    rows = [row.split() for row in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [[str(c.run_dir), j.job_id, "slurm", "COMPLETED", "3", f"{3 * s / 1000:.4f}",
                     str(j.paths.stdout)] for c, j, s in zip(cfgs, jobs, seeds, strict=True)]
