"""The one place that reads the process environment for distributed training.

Three ways to run, recognised from the environment:
- single process (no variables): CPU or one GPU, no process group;
- torchrun-style variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (torchrun, or a
  Slurm task after `submitit.helpers.TorchDistributedEnvironment().export()`);
- raw Slurm task variables SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (fallback; a multi-task
  job then also needs MASTER_ADDR / MASTER_PORT).
NCCL on GPUs, gloo on the CPU. Nothing else in the package reads these variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    source: str = "single"  # "single" | "torchrun" | "slurm"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _int_var(env: Mapping[str, str], name: str) -> int:
    value = env[name]
    try:
        return int(value)
    except ValueError as error:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from error


def read_env(env: Mapping[str, str] | None = None) -> DistEnv:
    """Rank, world size and local rank of this process (see the module docstring)."""
    env = os.environ if env is None else env
    if "RANK" in env or "WORLD_SIZE" in env:
        names, source = ("RANK", "WORLD_SIZE", "LOCAL_RANK"), "torchrun"
    elif "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        names, source = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"), "slurm"
    else:
        return DistEnv()
    missing = [n for n in names[:2] if n not in env]
    if missing:
        raise ValueError(f"incomplete distributed environment: {missing} not set ({source})")
    rank, world = _int_var(env, names[0]), _int_var(env, names[1])
    local = _int_var(env, names[2]) if names[2] in env else 0
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"bad distributed environment: rank {rank}, world size {world}, "
                         f"local rank {local} ({source})")
    if world > 1 and not ("MASTER_ADDR" in env and "MASTER_PORT" in env):
        raise ValueError(
            f"{source} environment with world size {world} needs MASTER_ADDR and MASTER_PORT "
            "(torchrun sets them; on Slurm, submitit's TorchDistributedEnvironment().export())"
        )
    return DistEnv(rank, world, local, source)


def select_device(env: DistEnv, preference: str = "auto") -> torch.device:
    """cuda:<local rank> when asked for (or "auto" and available), else the CPU."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {preference!r}")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if preference == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    if env.local_rank >= torch.cuda.device_count():
        raise ValueError(f"local rank {env.local_rank} but only {torch.cuda.device_count()} GPUs")
    torch.cuda.set_device(env.local_rank)
    return torch.device("cuda", env.local_rank)


def init_process_group(
    env: DistEnv, device: torch.device, backend: str = "auto", timeout_s: int = 1800
) -> None:
    """Join the process group (a no-op for a single process). Reads MASTER_ADDR/PORT via env://."""
    if not env.distributed:
        return
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be auto, nccl or gloo, got {backend!r}")
    if backend == "nccl" and device.type != "cuda":
        raise ValueError("the nccl backend needs CUDA devices; use gloo on the CPU")
    dist.init_process_group(
        backend, init_method="env://", rank=env.rank, world_size=env.world_size,
        timeout=timedelta(seconds=timeout_s),
        device_id=device if device.type == "cuda" else None,
    )


def destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (identity for a single process)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank."""
    if not active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """In-place mean over ranks (identity for a single process)."""
    if active():
        dist.all_reduce(tensor)
        tensor.div_(dist.get_world_size())
    return tensor


def barrier() -> None:
    if active():
        dist.barrier()
