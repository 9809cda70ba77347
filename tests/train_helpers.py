"""Shared pieces of the training tests: a tiny config and subprocess runs of `vjepa train`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

__test__ = False  # helpers only


def tiny_overrides(run_dir: Path, cache: Path, steps: int = 8, ipe: int = 4) -> list[str]:
    """A V-JEPA small enough for a CPU test: 2x4x4 tokens, width 32, one block each."""
    return [
        "experiment=vjepa_tiny", f"run_dir={run_dir}", f"data.cache_dir={cache}",
        "model.embed_dim=32", "model.depth=1", "model.num_heads=2", "model.crop_size=32",
        "model.num_frames=4", "model.pred_depth=1", "model.pred_embed_dim=16",
        "data.synthetic_num=12", "data.synthetic_size=32", "data.synthetic_frames=16",
        "data.batch_size=3", "data.num_workers=0", f"optim.epochs={steps // ipe}",
        f"optim.ipe={ipe}", "optim.warmup=0.5", "logging.log_every=1",
        "logging.checkpoint_every=1", "logging.keep_every=0", "logging.tensorboard=false",
        "logging.plots=false", "logging.progress=false",
    ]


def run_here(overrides: list[str]) -> dict:
    """`vjepa train` in this process with one thread, as the subprocesses run."""
    from vjepa.train.hydra_config import compose
    from vjepa.train.main import run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run(compose(overrides))
    finally:
        torch.set_num_threads(threads)


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS")}
    env.update(OMP_NUM_THREADS="1", HYDRA_FULL_ERROR="1", **extra)
    return env


def train_command(overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "vjepa.train.main", *overrides]


def load_latest(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "latest.pt", map_location="cpu",
                      weights_only=True)


def assert_same_tensors(a: object, b: object, where: str = "") -> None:
    """Bit-for-bit equality of nested dicts/lists of tensors and plain values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys differ"
        for k in a:
            assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
