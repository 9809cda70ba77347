"""`vjepa train` on a REAL Slurm cluster (CI starts one with ../shared/slurm/start_slurm.sh):
the tiny recipe as a 2-rank gloo DDP job from the command line, the same run preempted and
requeued half-way (it must end bit-identical to the uninterrupted one), and a Hydra multirun
sweep through hydra-submitit-launcher (configs/hydra/launcher/vjepa_slurm.yaml: 2-rank jobs
over two seeds, one finished run per setting).

The three are submitted together (module fixture) so that Slurm overlaps them where the
cluster has room (the requeue delay, CPUs left free); each test then waits for its own."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import submitit
import torch
from test_launch_support import TESTS, require_slurm_up, wait_completed, wait_done, wait_until

from vjepa.cli import main as vjepa
from vjepa.launch import read_records, submit
from vjepa.launch.status import job_table
from vjepa.train.hydra_config import compose

pytestmark = pytest.mark.skipif(
    shutil.which("sbatch") is None,
    reason="Slurm is not installed (no sbatch on PATH); CI runs these tests on a real cluster",
)

STEPS = 4
SEEDS = (1, 2)
TINY = [f"optim.max_steps={STEPS}", "model.depth=1", "model.pred_depth=1", "data.batch_size=2",
        "data.synthetic_num=16", "data.num_workers=0", "dist.device=cpu", "logging.log_every=1",
        "logging.checkpoint_every=2", "logging.tensorboard=false", "logging.plots=false",
        "logging.progress=false"]
SLURM_2_TASKS = ["launcher=slurm", "slurm.gpus_per_node=0", "slurm.tasks_per_node=2",
                 "slurm.cpus_per_task=1", "slurm.time=5", "slurm.signal_delay_s=60",
                 "slurm.job_name=vjepa-test"]


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
    ddp_dir: Path
    ddp_printed: str
    ddp_job: submitit.Job
    preempt_dir: Path
    preempt_job: submitit.Job
    sweep_dir: Path
    sweep: subprocess.Popen


@pytest.fixture(scope="module")
def in_flight(tmp_path_factory: pytest.TempPathFactory) -> InFlight:
    require_slurm_up()
    root = tmp_path_factory.mktemp("train")
    common = [*TINY, f"data.cache_dir={root / 'cache'}"]
    # 1. the command line users type: vjepa train ... launcher=slurm slurm.tasks_per_node=2
    ddp_dir = root / "ddp"
    code, printed = run_cli(["train", *common, *SLURM_2_TASKS, f"run_dir={ddp_dir}"])
    assert code == 0, printed
    job_id = re.search(r"submitted slurm job (\S+) \(2 tasks\)", printed).group(1)
    ddp_job = submitit.SlurmJob(folder=ddp_dir / "slurm", job_id=job_id, tasks=(0, 1))
    # 2. the same run, through an entry point that waits to be preempted half-way
    preempt_dir = root / "preempt"
    cfg = compose([*common, *SLURM_2_TASKS, f"run_dir={preempt_dir}"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(TESTS))  # the job imports tests/test_launch_entry.py
        preempt_job = submit(cfg, "test_launch_entry:train_then_wait_for_preemption")
    # 3. a Hydra multirun sweep over seeds (2-rank jobs), a `vjepa train -m` process (it blocks)
    sweep_dir = root / "sweep"
    sweep_cmd = [sys.executable, "-m", "vjepa.cli", "train", "-m",
                 "hydra/launcher=vjepa_slurm", f"hydra.sweep.dir={sweep_dir}",
                 "hydra.launcher.timeout_min=5", "hydra.launcher.cpus_per_task=1",
                 "hydra.launcher.tasks_per_node=2", "hydra.launcher.signal_delay_s=60", *common,
                 f"seed={','.join(map(str, SEEDS))}", f"run_dir={sweep_dir}/seed_${{seed}}"]
    log = (root / "sweep.log").open("w")
    sweep = subprocess.Popen(sweep_cmd, stdout=log, stderr=subprocess.STDOUT)
    flight = InFlight(ddp_dir, printed, ddp_job, preempt_dir, preempt_job, sweep_dir, sweep)
    yield flight
    if sweep.poll() is None:
        sweep.kill()
    sweep.wait()
    log.close()


@pytest.fixture(scope="module")
def uninterrupted(in_flight: InFlight) -> list[dict]:
    """Both ranks' summaries of the uninterrupted 2-rank run."""
    return wait_done(in_flight.ddp_job, timeout_s=300).results()


def test_cli_runs_the_tiny_recipe_as_two_rank_ddp_across_slurm_tasks(
    in_flight: InFlight, uninterrupted: list[dict]
) -> None:
    run_dir, results = in_flight.ddp_dir, uninterrupted
    (record,) = read_records(run_dir)
    assert (record.job_id, record.launcher) == (in_flight.ddp_job.job_id, "slurm")
    assert record.entry == "vjepa.train.main:run" and record.num_tasks == 2
    assert f"log:    {record.stdout}" in in_flight.ddp_printed
    assert [r["rank"] for r in results] == [0, 1]
    assert {r["step"] for r in results} == {STEPS}
    assert len({r["param_digest"] for r in results}) == 1  # replicas agree bit for bit
    assert len({r["loss"] for r in results}) == 1  # the all-reduced loss
    ckpt = torch.load(run_dir / "checkpoints" / "latest.pt", map_location="cpu",
                      weights_only=False)
    assert ckpt["step"] == STEPS
    assert "world size 2 on cpu" in (run_dir / "train.log").read_text()
    wait_completed(record.job_id)  # `vjepa jobs`: state, step reached, last loss, log path
    assert job_table([run_dir])[1] == [str(run_dir), record.job_id, "slurm", "COMPLETED",
                                       str(STEPS), f"{results[0]['loss']:.4f}", record.stdout]


def test_a_preempted_run_requeues_resumes_and_ends_like_the_uninterrupted_one(
    in_flight: InFlight, uninterrupted: list[dict]
) -> None:
    run_dir, job = in_flight.preempt_dir, in_flight.preempt_job
    wait_until((run_dir / "paused").is_file, 300, f"job {job.job_id} to reach step {STEPS // 2}")
    job._interrupt()  # as Slurm preempts: SIGTERM, then USR2 -> checkpoint() -> requeue
    results = wait_done(job, timeout_s=300).results()
    assert f"step {STEPS // 2} of {STEPS}" in (run_dir / "train.log").read_text()  # resumed
    assert [(r["step"], r["loss"], r["param_digest"]) for r in results] == [
        (r["step"], r["loss"], r["param_digest"]) for r in uninterrupted]


def test_hydra_multirun_sweep_on_slurm_gives_one_finished_run_per_seed(
    in_flight: InFlight
) -> None:
    try:
        in_flight.sweep.wait(timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vjepa train -m still running after 300 s; see {in_flight.sweep_dir}")
    # (the exit code is not checked: vjepa.train.main returns 1 when its Hydra task function
    # ran in other processes, as in every multirun; reported to its owner)
    last_rows = []
    for seed in SEEDS:
        run_dir = in_flight.sweep_dir / f"seed_{seed}"
        assert f"seed: {seed}\n" in (run_dir / "config.yaml").read_text()
        assert "world size 2 on cpu" in (run_dir / "train.log").read_text()
        rows = (run_dir / "metrics.csv").read_text().splitlines()
        assert rows[0].startswith("step,") and float(rows[-1].split(",")[0]) == STEPS
        last_rows.append(rows[-1])
    assert last_rows[0] != last_rows[1]  # each job ran its own setting
    results = list(in_flight.sweep_dir.glob(".submitit/*/*_result.pkl"))
    assert len(results) == len(SEEDS) * 2  # one per task of every array job
