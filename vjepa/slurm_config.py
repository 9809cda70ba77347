"""Cluster settings (own config group, never part of an experiment recipe)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

LAUNCHERS = ("local", "slurm")  # `launcher=`; "none" (the default) runs in this process
SLURM_GPUS_PER_NODE = 8  # what a Slurm job asks for when slurm.gpus_per_node is not set


@dataclass
class SlurmConfig:
    """Where and how a job runs on Slurm; maps onto submitit's executor parameters.

    The `local` launcher uses the same settings where they make sense on one machine
    (tasks_per_node, gpus_per_node, time, signal_delay_s, max_requeues, folder).
    """

    nodes: int = 1
    gpus_per_node: int | None = None  # default: 8 on Slurm, this machine's GPUs when local
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
    mem: str | None = None  # memory per node, e.g. "200G" (instead of mem_per_gpu)
    array_parallelism: int = 256  # job arrays: at most this many tasks running at once

    def __post_init__(self) -> None:
        positive = {"nodes": self.nodes, "cpus_per_task": self.cpus_per_task, "time": self.time,
                    "array_parallelism": self.array_parallelism}
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"slurm.{name} must be >= 1, got {value}")
        for name in ("gpus_per_node", "signal_delay_s", "max_requeues"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"slurm.{name} must be >= 0, got {getattr(self, name)}")
        if self.tasks_per_node is not None and self.tasks_per_node < 1:
            raise ValueError(
                f"slurm.tasks_per_node must be >= 1 or null, got {self.tasks_per_node}")
        if self.signal_delay_s >= 60 * self.time:
            raise ValueError(f"slurm.signal_delay_s={self.signal_delay_s} must be shorter than "
                             f"slurm.time={self.time} minutes")
        if self.mem_per_gpu is not None and self.gpus_per_node == 0:
            raise ValueError(f"slurm.mem_per_gpu={self.mem_per_gpu!r} needs gpus_per_node > 0; "
                             "use slurm.mem for CPU-only jobs")
        if self.mem_per_gpu is not None and self.mem is not None:
            raise ValueError(f"set one of slurm.mem={self.mem!r} and "
                             f"slurm.mem_per_gpu={self.mem_per_gpu!r}, not both")

    def with_gpus(self, default: int) -> SlurmConfig:
        """A copy whose unset gpus_per_node is `default` (what the launcher decides)."""
        return self if self.gpus_per_node is not None else replace(self, gpus_per_node=default)

    @property
    def ntasks_per_node(self) -> int:
        """Tasks (ranks) per node: tasks_per_node, else one per GPU, else 1."""
        if self.tasks_per_node is not None:
            return self.tasks_per_node
        gpus = SLURM_GPUS_PER_NODE if self.gpus_per_node is None else self.gpus_per_node
        return max(gpus, 1)
