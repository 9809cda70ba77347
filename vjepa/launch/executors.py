"""Build a submitit executor (Slurm or local) from a `SlurmConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import submitit
import torch
from omegaconf import DictConfig, OmegaConf

from vjepa.slurm_config import LAUNCHERS, SLURM_GPUS_PER_NODE, SlurmConfig


def as_slurm_config(node: SlurmConfig | DictConfig | dict[str, Any]) -> SlurmConfig:
    """A checked `SlurmConfig` from a dataclass, a Hydra node or a plain dict."""
    if isinstance(node, SlurmConfig):
        return SlurmConfig(**vars(node))  # re-run the checks of __post_init__
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    if not isinstance(node, dict):
        raise ValueError(f"slurm settings must be a mapping, got {type(node).__name__}")
    known = set(SlurmConfig.__dataclass_fields__)
    unknown = sorted(set(node) - known)
    if unknown:
        raise ValueError(f"unknown slurm setting(s) {unknown}; known: {sorted(known)}")
    return SlurmConfig(**node)


def slurm_parameters(slurm: SlurmConfig) -> dict[str, Any]:
    """`SlurmExecutor.update_parameters` arguments; unset (None) options are left out and a
    CPU-only job (gpus_per_node=0) asks for no GPUs at all."""
    slurm = slurm.with_gpus(SLURM_GPUS_PER_NODE)
    params: dict[str, Any] = {
        "nodes": slurm.nodes,
        "ntasks_per_node": slurm.ntasks_per_node,
        "cpus_per_task": slurm.cpus_per_task,
        "time": slurm.time,
        "job_name": slurm.job_name,
        "signal_delay_s": slurm.signal_delay_s,
        "array_parallelism": slurm.array_parallelism,
        "additional_parameters": dict(slurm.additional_parameters),
    }
    if slurm.gpus_per_node > 0:
        params["gpus_per_node"] = slurm.gpus_per_node
    optional = ("partition", "account", "qos", "constraint", "mem_per_gpu", "mem")
    params.update({k: getattr(slurm, k) for k in optional if getattr(slurm, k) is not None})
    return params


def local_parameters(slurm: SlurmConfig, gpus_here: int) -> dict[str, Any]:
    """`LocalExecutor.update_parameters` arguments (one node, tasks as processes), checked
    against the `gpus_here` GPUs of this machine (all of them when gpus_per_node is unset)."""
    slurm = slurm.with_gpus(gpus_here)
    if slurm.nodes != 1:
        raise ValueError(f"the local launcher runs on one node, got slurm.nodes={slurm.nodes}")
    if slurm.gpus_per_node > gpus_here:
        raise ValueError(f"the local launcher: slurm.gpus_per_node={slurm.gpus_per_node} but "
                         f"this machine has {gpus_here} GPU(s) (CPU only: slurm.gpus_per_node=0)")
    return {
        "tasks_per_node": slurm.ntasks_per_node,
        "gpus_per_node": slurm.gpus_per_node,
        "timeout_min": slurm.time,
        "signal_delay_s": slurm.signal_delay_s,
    }


def for_launcher(launcher: str, slurm: SlurmConfig) -> SlurmConfig:
    """Settings with an unset gpus_per_node filled in: 8 on Slurm, this machine's GPU count
    (0 on a CPU-only machine) with the local launcher."""
    if launcher == "local":
        return slurm.with_gpus(torch.cuda.device_count())
    return slurm.with_gpus(SLURM_GPUS_PER_NODE)


def make_executor(launcher: str, slurm: SlurmConfig, folder: Path) -> submitit.Executor:
    """An executor writing its submission files and logs to `folder`.

    `slurm.max_requeues` bounds the requeues after a time limit; preemptions always requeue.
    """
    if launcher == "slurm":
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=slurm.max_requeues)
        executor.update_parameters(**slurm_parameters(slurm))
    elif launcher == "local":
        params = local_parameters(slurm, torch.cuda.device_count())
        executor = submitit.LocalExecutor(folder=folder, max_num_timeout=slurm.max_requeues)
        executor.update_parameters(**params)
    else:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
    return executor
