"""`vjepa train` on a REAL Slurm cluster (opt-in, VJEPA_SLURM_TESTS=1; see slurm/README.md):

- a Hydra multirun sweep over two seeds through hydra-submitit-launcher
  (`-m hydra/launcher=vjepa_slurm`), every array job a 2-rank gloo DDP run across Slurm tasks,
  recorded in its run folder for `vjepa jobs`;
- the seed-0 run again, preempted half-way: requeued, it resumes from its checkpoint and ends at
  the same step, losses and weights as the uninterrupted seed-0 run of the sweep;
- `vjepa train ... launcher=slurm` from the command line, with a run that raises: the job id
  and log paths are printed and the exception reaches the caller through the job.

The three are submitted together (module fixture) so that Slurm overlaps them where the cluster
has room (the requeue delay, CPUs left free); each test then waits for its own."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import submitit
import torch
from launch_support import TESTS, require_slurm_up, wait_completed, wait_done, wait_until

from vjepa.cli import main as vjepa
from vjepa.launch import read_records, submit
from vjepa.launch.status import job_table, run_dirs_from
from vjepa.train.hydra_config import compose

pytestmark = pytest.mark.slurm  # opt-in: VJEPA_SLURM_TESTS=1 (conftest.py)

STEPS = 4
SEEDS = (0, 1)
TINY = [f"optim.max_steps={STEPS}", "model.depth=1", "model.pred_depth=1", "data.batch_size=2",
        "data.synthetic_num=16", "data.num_workers=0", "dist.device=cpu", "logging.log_every=1",
        "logging.checkpoint_every=2", "logging.tensorboard=false", "logging.plots=false",
        "logging.progress=false"]
CPU_TASKS = ["slurm.gpus_per_node=0", "slurm.cpus_per_task=1", "slurm.time=5",
             "slurm.signal_delay_s=60", "slurm.job_name=vjepa-test"]


def run_cli(args: list[str]) -> tuple[int, str]:
    """`vjepa <args>` in this process (as the console script does): exit code and stdout."""
    argv, out = sys.argv, io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = vjepa(args)
    finally:
        sys.argv = argv
    return code, out.getvalue()


@dataclass
class InFlight:
    sweep_dir: Path
    sweep: subprocess.Popen
    preempt_dir: Path
    preempt_job: submitit.Job
    failing_dir: Path
    failing_printed: str
    failing_job: submitit.Job


@pytest.fixture(scope="module")
def in_flight(tmp_path_factory: pytest.TempPathFactory) -> InFlight:
    require_slurm_up()
    root = tmp_path_factory.mktemp("train")
    common = [*TINY, f"data.cache_dir={root / 'cache'}"]
    # 1. a Hydra multirun sweep over seeds, 2-rank jobs: a `vjepa train -m` process (it blocks)
    sweep_dir = root / "sweep"
    sweep_cmd = [sys.executable, "-m", "vjepa.cli", "train", "-m",
                 "hydra/launcher=vjepa_slurm", f"hydra.sweep.dir={sweep_dir}",
                 "hydra.launcher.timeout_min=5", "hydra.launcher.cpus_per_task=1",
                 "hydra.launcher.tasks_per_node=2", "hydra.launcher.signal_delay_s=60", *common,
                 f"seed={','.join(map(str, SEEDS))}", "run_dir=${hydra:sweep.dir}/${hydra:job.num}"]
    log = (root / "sweep.log").open("w")
    sweep = subprocess.Popen(sweep_cmd, stdout=log, stderr=subprocess.STDOUT)
    # 2. seed 0 again, through an entry point that waits to be preempted half-way
    preempt_dir = root / "preempt"
    cfg = compose([*common, "launcher=slurm", *CPU_TASKS, "slurm.tasks_per_node=2",
                   f"seed={SEEDS[0]}", f"run_dir={preempt_dir}"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(TESTS))  # the job imports tests/launch_entry.py
        preempt_job = submit(cfg, "launch_entry:train_then_wait_for_preemption")
    # 3. the command line users type, for a run whose data index does not exist
    failing_dir = root / "failing"
    code, printed = run_cli(["train", *common, "launcher=slurm", *CPU_TASKS,
                             "slurm.tasks_per_node=1", f"run_dir={failing_dir}",
                             f"data.sources=[{root / 'missing.csv'}]"])
    assert code == 0, printed
    job_id = re.search(r"submitted slurm job (\S+) \(1 tasks\)", printed).group(1)
    failing_job = submitit.SlurmJob(folder=failing_dir / "slurm", job_id=job_id)
    yield InFlight(sweep_dir, sweep, preempt_dir, preempt_job, failing_dir, printed, failing_job)
    for job in (preempt_job, failing_job):  # after a failed test: leave no job behind
        if not job.done():
            job.cancel(check=False)
    if sweep.poll() is None:
        sweep.kill()
        array_ids = {d.name.split("_")[0] for d in sweep_dir.glob(".submitit/*_*") if d.is_dir()}
        for array_id in sorted(array_ids):
            subprocess.run(["scancel", array_id], check=False)
    sweep.wait()
    log.close()


def sweep_runs(in_flight: InFlight) -> list[Path]:
    """The sweep's run folders (job 0 = seed 0, job 1 = seed 1), once `vjepa train -m` ended."""
    try:
        in_flight.sweep.wait(timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vjepa train -m still running after 600 s; see {in_flight.sweep_dir}")
    return [in_flight.sweep_dir / str(num) for num in range(len(SEEDS))]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / "latest.pt", map_location="cpu",
                      weights_only=True)
    assert ckpt["step"] == STEPS
    return {f"{part}.{k}": v for part in ("encoder", "predictor", "target_encoder")
            for k, v in ckpt[part].items()}


def losses(run_dir: Path) -> list[float]:
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    col = rows[0].split(",").index("loss")
    return [float(row.split(",")[col]) for row in rows[1:]]


def test_a_preempted_run_requeues_resumes_and_ends_like_the_uninterrupted_one(
    in_flight: InFlight
) -> None:
    run_dir, job = in_flight.preempt_dir, in_flight.preempt_job  # (first: it holds 2 CPUs)
    wait_until((run_dir / "paused").is_file, 300, f"job {job.job_id} to reach step {STEPS // 2}")
    for signal in ("TERM", "USR2"):  # preemption as submitit expects it: SIGTERM, then USR2
        subprocess.run(["scancel", f"--signal={signal}", job.job_id], check=True)
    # -> rank 0 calls EntryJob.checkpoint() and requeues the job; the next start resumes
    results = wait_done(job, timeout_s=300).results()
    assert f"step {STEPS // 2} of {STEPS}" in (run_dir / "train.log").read_text()  # resumed
    assert [(r["rank"], r["step"]) for r in results] == [(0, STEPS), (1, STEPS)]
    assert len({r["param_digest"] for r in results}) == 1  # the two ranks agree bit for bit
    # the uninterrupted seed-0 run of the sweep: the same losses and weights. Not bit for bit:
    # CPU kernels on 2 busy cores may sum in another order (~1e-9 apart here), while a wrong
    # resume (weights, optimizer, data or mask position) is off by orders of magnitude more.
    uninterrupted = sweep_runs(in_flight)[0]
    assert losses(run_dir) == pytest.approx(losses(uninterrupted), rel=1e-5, abs=0)
    reference, resumed = weights(uninterrupted), weights(run_dir)
    assert reference.keys() == resumed.keys()
    for name, tensor in reference.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-4, atol=1e-6, msg=name)
    (record,) = read_records(run_dir)
    wait_completed(record.job_id)  # `vjepa jobs`: state, step reached, last loss, log path
    assert job_table([run_dir])[1] == [str(run_dir), job.job_id, "slurm", "COMPLETED",
                                       str(STEPS), f"{results[0]['loss']:.4f}", record.stdout]


def test_hydra_multirun_sweep_runs_each_seed_as_a_two_rank_ddp_job(in_flight: InFlight) -> None:
    # (the exit code of `vjepa train -m` is not checked: vjepa.train.main returns 1 when its
    # Hydra task function ran in other processes, as in every multirun; reported to its owner)
    runs = sweep_runs(in_flight)
    for run_dir, seed in zip(runs, SEEDS, strict=True):
        assert f"seed: {seed}\n" in (run_dir / "config.yaml").read_text()
        assert "world size 2 on cpu" in (run_dir / "train.log").read_text()
        assert len(losses(run_dir)) == STEPS  # one metrics row per step, from rank 0 only
    assert losses(runs[0]) != losses(runs[1])  # each job ran its own setting
    # both ranks of every job finished (submitit's result file per task)
    results = sorted(p.name for p in in_flight.sweep_dir.glob(".submitit/*/*_result.pkl"))
    assert len(results) == 2 * len(SEEDS)
    # the jobs recorded themselves (vjepa_slurm's callback): `vjepa jobs <sweep dir>` lists them
    job_ids = [r.job_id for run in runs for r in read_records(run)]
    array_id = job_ids[0].split("_")[0]
    assert job_ids == [f"{array_id}_{num}" for num in range(len(SEEDS))]
    for job_id in job_ids:
        wait_completed(job_id)
    logs = [in_flight.sweep_dir / ".submitit" / j / f"{j}_0_log.out" for j in job_ids]
    assert all(log.is_file() for log in logs)
    assert job_table(run_dirs_from([in_flight.sweep_dir]))[1:] == [
        [str(run), j, "slurm", "COMPLETED", str(STEPS), f"{losses(run)[-1]:.4f}", str(log)]
        for run, j, log in zip(runs, job_ids, logs, strict=True)]


def test_cli_submission_prints_the_job_and_its_failure_reaches_the_caller(
    in_flight: InFlight
) -> None:
    (record,) = read_records(in_flight.failing_dir)
    assert (record.job_id, record.launcher) == (in_flight.failing_job.job_id, "slurm")
    assert record.entry == "vjepa.train.main:run" and record.num_tasks == 1
    assert f"log:    {record.stdout}" in in_flight.failing_printed
    assert f"status: vjepa jobs {in_flight.failing_dir}" in in_flight.failing_printed
    job = wait_done(in_flight.failing_job, timeout_s=300)
    missing = r"data.sources: .*missing\.csv does not exist"  # checked before any build
    with pytest.raises(submitit.core.utils.FailedJobError, match=missing):
        job.result()
    assert "does not exist" in Path(record.stderr).read_text()
