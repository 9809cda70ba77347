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
    "extra": {"bad_samples": tracker state, "nonfinite_total": int},
    "checksums": CRC-32 of every tensor and of the plain values (vjepa.checkpoints.checksums),
        verified on every load.
Only tensors and plain Python values: `torch.load(path, weights_only=True)` reads it.
Writes go to a temporary file in the same folder, are fsync'ed, then renamed over the target,
so a crash during a save leaves the previous file intact; a failed write (disk full,
read-only folder) raises `WriteError` naming the path and the cause.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vjepa.checkpoints.checksums import with_checksums
from vjepa.checkpoints.errors import CheckpointError
from vjepa.checkpoints.io import atomic_write, read_torch_checkpoint
from vjepa.checkpoints.layouts import TRAIN_FORMAT

log = logging.getLogger("vjepa.train")

FORMAT = TRAIN_FORMAT  # "vjepa-checkpoint-v1", defined where the layouts are detected
LATEST = "latest.pt"
REQUIRED_KEYS = ("encoder", "predictor", "target_encoder", "optimizer", "scaler", "step",
                 "epoch", "rng", "sampler", "config", "version", "format")


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save `obj` to `path` through `atomic_write` (temp file, fsync, rename, fsync of
    the folder).

    Raises:
        WriteError: the write failed (ENOSPC, EROFS, EACCES, ...); `path` is untouched.
    """
    path = Path(path)
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
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
    state = with_checksums(state)
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


def kept_paths(run_dir: str | Path) -> list[Path]:
    """The kept `step_XXXXXXXX.pt` copies of a run, newest first."""
    return sorted((Path(run_dir) / "checkpoints").glob("step_*.pt"), reverse=True)


def load_for_resume(run_dir: str | Path, fallback: bool) -> tuple[Path, dict] | None:
    """(path, state) of the checkpoint a run resumes from: `latest.pt`, or with `fallback`,
    when latest.pt is unreadable or corrupted, the newest kept copy that reads and verifies
    (each skipped file and why is logged). None when the run has no checkpoint.

    Raises:
        CheckpointError: latest.pt is bad and `fallback` is off (the message names the kept
            copies and `resume_fallback=true`), or no candidate is good.
    """
    latest, kept = latest_path(run_dir), kept_paths(run_dir)
    if latest is None:
        return None
    try:
        return latest, load_checkpoint(latest)
    except CheckpointError as error:
        if not fallback:
            names = ", ".join(p.name for p in kept) or "none"
            raise CheckpointError(str(latest), f"{error.problem}; kept copies: {names}; rerun "
                                  "with resume_fallback=true to resume from the newest good "
                                  "one") from error
        skipped = [f"{latest}: {error.problem}"]
    for path in kept:
        try:
            state = load_checkpoint(path)
        except CheckpointError as error:
            skipped.append(f"{path}: {error.problem}")
            continue
        for reason in skipped:
            log.warning("resume_fallback: skipped %s", reason)
        log.warning("resume_fallback: resuming from %s (step %d)", path, int(state["step"]))
        return path, state
    raise CheckpointError(str(latest), "no good checkpoint to resume from; skipped "
                          + "; ".join(skipped))


def load_checkpoint(path: str | Path) -> dict:
    """Read and check a checkpoint (tensors land on the CPU): format, keys, checksums.

    Raises:
        CheckpointError: unreadable, truncated, not this format, or corrupted (a checksum
            mismatch names the tensor).
    """
    state = read_torch_checkpoint(path)  # verifies the checksums
    if state.get("format") != FORMAT:
        raise CheckpointError(str(path), f"not a {FORMAT} checkpoint "
                                         f"(format {state.get('format')!r})")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(str(path), f"lacks keys {missing}")
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
