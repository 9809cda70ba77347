"""Cluster settings (own config group, never part of an experiment recipe)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SlurmConfig:
    """Where and how a job runs on Slurm; maps onto submitit's executor parameters."""

    nodes: int = 1
    gpus_per_node: int = 8
    tasks_per_node: int | None = None  # default: one task per GPU (or 1 on CPU-only jobs)
    cpus_per_task: int = 10
    mem_per_gpu: str | None = None  # e.g. "55G"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    time: int = 4320  # minutes
    job_name: str = "vjepa"
    signal_delay_s: int = 120
    max_requeues: int = 10
    folder: str | None = None  # submitit logs; default <run folder>/slurm
    additional_parameters: dict[str, str] = field(default_factory=dict)
