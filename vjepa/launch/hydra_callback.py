"""A Hydra callback that records jobs started by hydra-submitit-launcher in their run folders,
so that `vjepa jobs <sweep folder>` lists Hydra sweeps like `vjepa train launcher=slurm` runs.

Enabled by configs/hydra/launcher/vjepa_slurm.yaml; a no-op outside a submitit job.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import submitit
from hydra.experimental.callback import Callback
from hydra.types import TaskFunction
from omegaconf import DictConfig, OmegaConf

from vjepa.launch.records import RECORDS_FILE, JobRecord, append_record, now_utc, read_records

log = logging.getLogger(__name__)


def record_for(env: submitit.JobEnvironment, entry: str) -> JobRecord:
    """The record of the submitit job this process runs in (rank 0's log paths)."""
    paths = submitit.core.utils.JobPaths(os.environ["SUBMITIT_FOLDER"], job_id=env.job_id,
                                         task_id=0)
    return JobRecord(job_id=env.job_id, launcher=env.cluster, entry=entry,
                     submitted_at=now_utc(), folder=str(paths.folder), stdout=str(paths.stdout),
                     stderr=str(paths.stderr), num_tasks=env.num_tasks)


class RecordSubmititJob(Callback):
    def on_job_start(self, config: DictConfig, *, task_function: TaskFunction,
                     **kwargs: Any) -> None:  # Hydra's callback interface passes kwargs
        if not os.environ.get("SUBMITIT_EXECUTOR"):
            return  # not a submitit job: `vjepa train -m` with the basic launcher, or a run
        env = submitit.JobEnvironment()
        if env.global_rank != 0:
            return
        run_dir = OmegaConf.select(config, "run_dir")
        if not run_dir:
            log.warning("job %s has no run_dir: it is not recorded for `vjepa jobs`, and a "
                        "requeue would not resume (set run_dir='${hydra:sweep.dir}/"
                        "${hydra:job.num}')", env.job_id)
            return
        run_dir = Path(str(run_dir)).absolute()
        if (run_dir / RECORDS_FILE).is_file() and any(
                r.job_id == env.job_id for r in read_records(run_dir)):
            return  # a requeued job: recorded by its first start
        entry = f"{task_function.__module__}:{task_function.__qualname__}"
        append_record(run_dir, record_for(env, entry))
