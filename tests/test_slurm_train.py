"""`vjepa train` on a REAL Slurm cluster (CI starts one with ../shared/slurm/start_slurm.sh):
the tiny recipe as a 2-rank gloo DDP job from the command line, the same run preempted and
requeued half-way (it must end bit-identical to the uninterrupted one), and a Hydra multirun
sweep through hydra-submitit-launcher (one finished run per setting)."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import sys
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
TINY = [f"optim.max_steps={STEPS}", "model.depth=1", "model.pred_depth=1", "data.batch_size=2",
        "data.synthetic_num=16", "data.num_workers=0", "dist.device=cpu", "logging.log_every=1",
        "logging.checkpoint_every=2", "logging.tensorboard=false", "logging.plots=false",
        "logging.progress=false"]
SLURM_2_TASKS = ["launcher=slurm", "slurm.gpus_per_node=0", "slurm.tasks_per_node=2",
                 "slurm.cpus_per_task=1", "slurm.time=5", "slurm.signal_delay_s=60",
                 "slurm.job_name=vjepa-test"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Slurm must be up (fail, not skip, when installed but down); a shared synthetic-data
    cache for the module's runs."""
    require_slurm_up()
    return str(tmp_path_factory.mktemp("cache"))


def run_cli(args: list[str]) -> tuple[int, str]:
    """`vjepa <args>` in this process (as the console script does): exit code and stdout."""
    argv, out = sys.argv, io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = vjepa(args)
    finally:
        sys.argv = argv
    return code, out.getvalue()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, cache: str) -> tuple[Path, str, list]:
    """`vjepa train <tiny> launcher=slurm slurm.tasks_per_node=2 ...`: run folder, printed
    text, the two ranks' summaries."""
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    code, printed = run_cli(["train", *TINY, *SLURM_2_TASKS, f"data.cache_dir={cache}",
                             f"run_dir={run_dir}"])
    assert code == 0, printed
    job_id = re.search(r"submitted slurm job (\S+) \(2 tasks\)", printed).group(1)
    job = submitit.SlurmJob(folder=run_dir / "slurm", job_id=job_id, tasks=(0, 1))
    return run_dir, printed, wait_done(job, timeout_s=240).results()


def test_cli_runs_the_tiny_recipe_as_two_rank_ddp_across_slurm_tasks(uninterrupted) -> None:
    run_dir, printed, results = uninterrupted
    (record,) = read_records(run_dir)
    assert record.launcher == "slurm" and record.entry == "vjepa.train.main:run"
    assert f"log:    {record.stdout}" in printed and record.num_tasks == 2
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
    tmp_path: Path, cache: str, uninterrupted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the job imports the wrapper below
    run_dir = tmp_path / "run"
    cfg = compose([*TINY, *SLURM_2_TASKS, f"data.cache_dir={cache}", f"run_dir={run_dir}"])
    job = submit(cfg, "test_launch_entry:train_then_wait_for_preemption")
    wait_until((run_dir / "paused").is_file, 180, f"job {job.job_id} to reach step {STEPS // 2}")
    job._interrupt()  # as Slurm preempts: SIGTERM, then USR2 -> checkpoint() -> requeue
    results = wait_done(job, timeout_s=240).results()
    log = (run_dir / "train.log").read_text()
    assert f"step {STEPS // 2} of {STEPS}" in log  # the requeued attempt resumed half-way
    reference = uninterrupted[2]
    assert [(r["step"], r["loss"], r["param_digest"]) for r in results] == [
        (r["step"], r["loss"], r["param_digest"]) for r in reference]


def test_hydra_multirun_sweep_on_slurm_gives_one_finished_run_per_seed(
    tmp_path: Path, cache: str
) -> None:
    seeds = (1, 2)
    # (the exit code is not checked: vjepa.train.main returns 1 when its Hydra task function
    # ran in other processes, as in every multirun; reported to its owner)
    run_cli(["train", "-m", "hydra/launcher=submitit_slurm", f"hydra.sweep.dir={tmp_path}",
             "hydra.launcher.timeout_min=5", "hydra.launcher.cpus_per_task=1",
             *TINY, f"data.cache_dir={cache}", f"seed={','.join(map(str, seeds))}",
             f"run_dir={tmp_path}/seed_${{seed}}"])
    losses = []
    for seed in seeds:
        run_dir = tmp_path / f"seed_{seed}"
        assert f"seed: {seed}\n" in (run_dir / "config.yaml").read_text()
        rows = (run_dir / "metrics.csv").read_text().splitlines()
        assert rows[0].startswith("step,") and float(rows[-1].split(",")[0]) == STEPS
        losses.append(rows[-1])
    assert losses[0] != losses[1]  # each job ran its own setting
    assert len(list(tmp_path.glob(".submitit/*/*_result.pkl"))) == len(seeds)
