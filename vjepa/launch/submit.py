"""Submit runs as submitit jobs (Slurm or local) and record them in their run folders.

`launch` is the generic core (any picklable config, explicit cluster settings); `submit` and
`submit_array` take the Hydra configs of `vjepa train` (keys ``launcher``, ``slurm``,
``run_dir``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import submitit
from omegaconf import DictConfig, OmegaConf

from vjepa.launch.executors import as_slurm_config, for_launcher, make_executor
from vjepa.launch.job import EntryJob
from vjepa.launch.records import JobRecord, append_record, now_utc
from vjepa.slurm_config import SlurmConfig


def launch(entry: str, cfgs: Sequence[Any], launcher: str, slurm: SlurmConfig,
           run_dirs: Sequence[Path], folder: Path | None = None) -> list[submitit.Job]:
    """Submit ``entry(cfg)`` for every config (several configs = one job array); print the job
    ids and log paths, record each job in its run folder, return the jobs.

    Args:
        entry: ``"package.module:function"``, imported here first (a typo fails before
            anything is queued) and in every task of the job.
        cfgs: one picklable config per job, given unchanged to the entry point.
        launcher: "slurm" or "local".
        slurm: cluster settings, shared by all the jobs.
        run_dirs: one run folder per config (records; where the entry point resumes from).
        folder: submitit files and logs; default ``slurm.folder``, else ``<run folder>/slurm``
            for one run and ``<common parent of the run folders>/slurm`` for several.
    """
    if not cfgs or len(cfgs) != len(run_dirs):
        raise ValueError(f"need one run folder per config, got {len(cfgs)} configs and "
                         f"{len(run_dirs)} run folders")
    run_dirs = [Path(d).absolute() for d in run_dirs]
    if len(set(run_dirs)) != len(run_dirs):
        raise ValueError(f"configs share run folders: {[str(d) for d in run_dirs]}")
    if folder is None:
        folder = Path(slurm.folder or Path(os.path.commonpath(run_dirs)) / "slurm")
    job_objects = [EntryJob(entry, c) for c in cfgs]  # imports the entry: fails before queuing
    slurm = for_launcher(launcher, slurm)  # the task count below depends on the GPUs
    executor = make_executor(launcher, slurm, folder)
    jobs = executor.submit_array(job_objects)
    for job, run_dir in zip(jobs, run_dirs, strict=True):
        record = JobRecord(job_id=str(job.job_id), launcher=launcher, entry=entry,
                           submitted_at=now_utc(), folder=str(folder),
                           stdout=str(job.paths.stdout), stderr=str(job.paths.stderr),
                           num_tasks=slurm.nodes * slurm.ntasks_per_node)
        append_record(run_dir, record)
        print(f"submitted {launcher} job {job.job_id} ({record.num_tasks} tasks) for {run_dir}\n"
              f"  log:    {record.stdout}\n  errors: {record.stderr}\n"
              f"  status: vjepa jobs {run_dir}", flush=True)
    return jobs


def run_dir_of(cfg: DictConfig) -> Path:
    """The run folder of a config (``cfg.run_dir``): checkpoints, logs, job records."""
    run_dir = OmegaConf.select(cfg, "run_dir")
    if not run_dir:
        raise ValueError("the config has no run_dir; jobs need a run folder to resume from")
    return Path(str(run_dir)).absolute()


def resolved(cfg: DictConfig) -> DictConfig:
    """A resolved copy: interpolations (including ``${hydra:...}``) are evaluated here, in the
    submitting process, where they still can be."""
    out = copy.deepcopy(cfg)
    OmegaConf.resolve(out)
    return out


def submit(cfg: DictConfig, entry: str) -> submitit.Job:
    """Submit one run (``cfg.launcher`` = "slurm" | "local", settings in ``cfg.slurm``)."""
    return submit_array([cfg], entry)[0]


def submit_array(cfgs: Sequence[DictConfig], entry: str) -> list[submitit.Job]:
    """Submit several runs (a sweep) as one job array; each config keeps its own run folder.
    All configs must share the launcher and the cluster settings (one executor, one array)."""
    if not cfgs:
        raise ValueError("submit_array needs at least one config, got none")
    cfgs = [resolved(c) for c in cfgs]
    launcher, slurm_node = cfgs[0].launcher, cfgs[0].slurm
    for i, c in enumerate(cfgs[1:], start=1):
        if c.launcher != launcher or c.slurm != slurm_node:
            raise ValueError(f"sweep config {i} has launcher/slurm settings different from "
                             f"config 0 ({c.launcher!r} vs {launcher!r}); submit them separately")
    return launch(entry, cfgs, str(launcher), as_slurm_config(slurm_node),
                  [run_dir_of(c) for c in cfgs])
