"""The submitit job object: distributed environment from the job, then the entry point.

`EntryJob(entry, cfg)` is generic over the entry point, named as ``"module:function"``
(``vjepa.train.main:run`` for pretraining); the function takes the config and returns its
summary. On preemption or timeout submitit calls `checkpoint()`, which requeues a copy of the
job: the entry point resumes from the latest checkpoint in its run folder.
"""

from __future__ import annotations

import copy
import importlib
import signal
from collections.abc import Callable
from typing import Any, NoReturn

import submitit

from vjepa.train.signals import REQUEUE_SIGNALS, Interrupted


def resolve_entry(entry: str) -> Callable[[Any], Any]:
    """Import ``"package.module:function"`` and return the function."""
    module_name, sep, attr = entry.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"entry point must look like 'package.module:function', got {entry!r}")
    module = importlib.import_module(module_name)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"entry point {entry!r}: {module_name} has no callable {attr!r}")
    return fn


def export_torch_env() -> submitit.helpers.TorchDistributedEnvironment:
    """Set torchrun-style variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
    MASTER_ADDR = first node of the job, MASTER_PORT derived from the job id unless
    MASTER_PORT is set) from the running submitit job (Slurm or local executor).

    CUDA_VISIBLE_DEVICES is left alone: the training maps LOCAL_RANK to its device.
    Values inherited from the submitting shell are overwritten, the job's own are the truth.
    """
    dist_env = submitit.helpers.TorchDistributedEnvironment()
    return dist_env.export(set_cuda_visible_devices=False, overwrite=True)


def requeue_after(stop: Interrupted) -> NoReturn:
    """The entry point stopped on a signal after checkpointing. SIGUSR1 / SIGUSR2 (the time
    limit's `--signal`, or a preemption notice): hand over to submitit's requeue handler, which
    calls `EntryJob.checkpoint()`, requeues the job and exits (rank 0; other ranks return).
    Then exit with 128 + signal, without a result file: a SIGTERM comes from Slurm itself
    (preemption, `scontrol requeue`: Slurm requeues the job) or from `scancel`."""
    handler = signal.getsignal(submitit.JobEnvironment._usr_sig())
    if stop.signum in REQUEUE_SIGNALS and callable(handler):
        handler(stop.signum, None)
    raise SystemExit(stop.exit_code) from stop


class EntryJob:
    """A checkpointable submitit job that runs ``entry(cfg)`` on every task of the job.

    Args:
        entry: ``"package.module:function"``; checked at construction (the import happens in
            the submitting process, so a typo fails before anything is queued).
        cfg: the run config (a resolved DictConfig for training, any picklable object for
            other entry points), given to the entry point unchanged.
    """

    def __init__(self, entry: str, cfg: Any) -> None:
        resolve_entry(entry)
        self.entry = entry
        self.cfg = cfg

    def __call__(self) -> Any:
        export_torch_env()
        try:
            return resolve_entry(self.entry)(self.cfg)
        except Interrupted as stop:
            requeue_after(stop)

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        """Called by submitit on preemption/timeout: requeue the same job; the entry point
        resumes from its run folder's latest checkpoint."""
        return submitit.helpers.DelayedSubmission(copy.copy(self))

    def __repr__(self) -> str:
        return f"EntryJob({self.entry!r})"
