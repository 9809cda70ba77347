"""Training checkpoints: the file format, atomic writes, `latest` + kept copies, RNG states.

Format "vjepa-checkpoint-v1": `torch.save` of a dict with keys
    "encoder", "predictor", "target_encoder": state dicts with this package's parameter names
        (no `module.` prefix),
    "optimizer": AdamW state dict, "scaler": GradScaler state dict or None (fp16 only),
    "step": next global optimizer step to run (int), "epoch": epoch of that step (int),
    "rng": list, per rank, of {"torch", "cuda", "numpy", "python"} generator states,
    "sampler": {"micro_step": next micro-step, "accum_steps", "ipe"} (data position),
    "config": the resolved config as a plain dict, "version": package version,
    "format": "vjepa-checkpoint-v1",
    "extra": {"bad_samples": tracker state, "nonfinite_total": int}.
Only tensors and plain Python values: `torch.load(path, weights_only=True)` reads it.
Writes go to a temporary file in the same folder, are fsync'ed, then renamed over the target,
so a crash during a save leaves the previous file intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "vjepa-checkpoint-v1"
LATEST = "latest.pt"
REQUIRED_KEYS = ("encoder", "predictor", "target_encoder", "optimizer", "scaler", "step",
                 "epoch", "rng", "sampler", "config", "version", "format")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temp file beside `path`, fsync, rename over `path`, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # only after a failed write: never leave partial files behind
            tmp.unlink()
    _fsync_dir(path.parent)
    return path


def remove_stale_temps(run_dir: str | Path) -> list[Path]:
    """Delete temporary files a killed writer left in <run_dir>/checkpoints; returns them."""
    stale = sorted((Path(run_dir) / "checkpoints").glob(".*.pt.tmp*"))
    for path in stale:
        path.unlink()
    return stale


def keep_name(step: int) -> str:
    return f"step_{step:08d}.pt"


def save_checkpoint(state: dict, run_dir: str | Path, keep: bool) -> Path:
    """Write `latest.pt` atomically; with `keep`, also `step_XXXXXXXX.pt` (hard link or copy)."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks keys {missing}")
    folder = Path(run_dir) / "checkpoints"
    latest = atomic_save(state, folder / LATEST)
    if keep:
        kept = folder / keep_name(int(state["step"]))
        kept.unlink(missing_ok=True)
        try:
            os.link(latest, kept)
        except OSError:  # file systems without hard links: write a second copy
            atomic_save(state, kept)
    return latest


def latest_path(run_dir: str | Path) -> Path | None:
    path = Path(run_dir) / "checkpoints" / LATEST
    return path if path.is_file() else None


def load_checkpoint(path: str | Path) -> dict:
    """Read and check a checkpoint (tensors land on the CPU)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a {FORMAT} checkpoint (format {found!r})")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint {path} lacks keys {missing}")
    return state


def capture_rng() -> dict:
    """States of the global generators of torch (CPU, CUDA), NumPy and Python."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "gauss": gauss},
        "python": random.getstate(),
    }


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        if len(state["cuda"]) != torch.cuda.device_count():
            raise ValueError(f"checkpoint has {len(state['cuda'])} CUDA generator states, this "
                             f"machine {torch.cuda.device_count()} GPUs")
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
