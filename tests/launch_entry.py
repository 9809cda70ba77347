"""Entry points run INSIDE submitit jobs by the launch tests (no tests here): `counting_run`
(below) and `train_then_wait_for_preemption` (the real training, paused half-way).

`counting_run` is a tiny resumable "training": every step is one gloo all-reduce across the
job's ranks; rank 0 writes the step reached to ``<run_dir>/latest.json`` and one row per step to
``<run_dir>/metrics.csv``, and appends the step it started from to ``starts.txt`` (so a test sees
a resume). With ``pause_at`` set, the first attempt stops after that step and waits (bounded) to
be preempted or cancelled.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import torch
import torch.distributed as dist
from omegaconf import DictConfig

PAUSED = "paused"


def _start_step(run_dir: Path) -> int:
    latest = run_dir / "latest.json"
    return json.loads(latest.read_text())["step"] if latest.is_file() else 0


def _save(run_dir: Path, step: int, loss: float) -> None:
    tmp = run_dir / "latest.json.tmp"
    tmp.write_text(json.dumps({"step": step}))
    os.replace(tmp, run_dir / "latest.json")
    new = not (run_dir / "metrics.csv").is_file()
    with (run_dir / "metrics.csv").open("a") as f:
        f.write("step,loss\n" * new + f"{step},{loss}\n")


def _wait_for_preemption(run_dir: Path, rank: int, timeout_s: float) -> None:
    if rank == 0:
        (run_dir / PAUSED).touch()
    threading.Event().wait(timeout_s)  # a signal (preemption, cancel) ends the job before this
    raise TimeoutError(f"rank {rank} paused for {timeout_s}s and was never preempted")


def counting_run(cfg: DictConfig) -> dict:
    dist.init_process_group("gloo")  # env:// from the variables the job object exported
    rank, world = dist.get_rank(), dist.get_world_size()
    run_dir = Path(cfg.run_dir)
    start = _start_step(run_dir)
    if rank == 0:
        with (run_dir / "starts.txt").open("a") as f:
            f.write(f"{start}\n")
    checksum = 0.0
    for step in range(start, cfg.steps):
        t = torch.tensor([float((rank + 1) * (step + 1) * cfg.seed)])
        dist.all_reduce(t)  # every rank must hold the same sum
        checksum = t.item()
        if rank == 0:
            _save(run_dir, step + 1, checksum / 1000.0)
        if cfg.get("pause_at") is not None and step + 1 == cfg.pause_at and start < cfg.pause_at:
            dist.barrier()
            _wait_for_preemption(run_dir, rank, float(cfg.get("pause_timeout_s", 60)))
    dist.barrier()
    dist.destroy_process_group()
    if cfg.get("fail"):
        raise RuntimeError(f"requested failure on rank {rank}")
    return {"rank": rank, "world_size": world, "local_rank": int(os.environ["LOCAL_RANK"]),
            "final_step": _start_step(run_dir), "start_step": start, "checksum": checksum,
            "master": f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
            "seed": cfg.seed}


def train_then_wait_for_preemption(cfg: DictConfig) -> dict:
    """The real training (`vjepa.train.main:run`), preempted half-way on its first attempt.

    First attempt: train to step max_steps // 2 (a checkpoint; the schedules are those of the
    full run, max_steps only stops early), then wait to be preempted. A requeued attempt
    (Slurm sets SLURM_RESTART_COUNT) runs the whole config, resuming from that checkpoint.
    """
    from vjepa.train.main import run

    if int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0:
        return run(cfg)
    first = cfg.copy()
    first.optim.max_steps = cfg.optim.max_steps // 2
    run(first)
    _wait_for_preemption(Path(cfg.run_dir), int(os.environ["RANK"]), 180.0)
    raise AssertionError("unreachable")
