"""When an existing feature file counts as done for `vjepa extract`.

A feature file records a fingerprint in its metadata: the checkpoint's identity (resolved
path, size and modification time of each of its files) and the options that change what is
computed (`OPTION_KEYS`). On a rerun into the same folder a file is "done" only if its
fingerprint, source path and label all equal this run's; any other existing file is stale.
Stale files are never mixed with new ones: `vjepa extract` refuses before extracting anything
and names what differs, or with `--overwrite` recomputes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

OPTION_KEYS: tuple[str, ...] = ("which", "num_heads", "frames_per_clip", "frame_step", "stride",
                                "pool", "layers")
FINGERPRINT_KEY = "fingerprint"


class StaleFeatures(ValueError):
    """The output folder holds feature files made with another checkpoint or other options."""


def checkpoint_identity(path: str | Path) -> dict[str, Any]:
    """Resolved path and (name, size, mtime_ns) of the checkpoint file or of each file of an
    export folder: a new or rewritten checkpoint changes it without reading its contents."""
    path = Path(path).resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    entries = []
    for file in files:
        stat = file.stat()
        name = str(file.relative_to(path)) if path.is_dir() else file.name
        entries.append([name, stat.st_size, stat.st_mtime_ns])
    return {"path": str(path), "files": entries}


def fingerprint(checkpoint: str | Path, options: Mapping[str, Any]) -> dict[str, Any]:
    return {"checkpoint": checkpoint_identity(checkpoint),
            "options": {key: options[key] for key in OPTION_KEYS}}


def _describe(identity: Mapping[str, Any]) -> str:
    files = ", ".join(f"{name} {size} bytes, modified "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(mtime / 1e9))}"
                      for name, size, mtime in identity.get("files", []))
    return f"{identity.get('path')} ({files})"


def differences(out: Path, want: Mapping[str, Any], source: Path, label: int | None
                ) -> list[str]:
    """What differs between the existing feature file `out` and this run (empty: done)."""
    from safetensors import safe_open

    try:
        with safe_open(str(out), framework="pt", device="cpu") as handle:
            meta = dict(handle.metadata() or {})
    except Exception as error:  # SafetensorError, OSError: an unreadable file is not done
        return [f"unreadable ({type(error).__name__}: {error})"]
    if FINGERPRINT_KEY not in meta:
        return ["written without a checkpoint fingerprint (an older vjepa extract)"]
    have = json.loads(meta[FINGERPRINT_KEY])
    found = []
    if have.get("checkpoint") != want["checkpoint"]:
        found.append(f"checkpoint {_describe(have.get('checkpoint', {}))} -> "
                     f"{_describe(want['checkpoint'])}")
    old = have.get("options", {})
    found += [f"{key} {old.get(key)!r} -> {want['options'][key]!r}" for key in OPTION_KEYS
              if old.get(key) != want["options"][key]]
    if meta.get("source") != str(source):
        found.append(f"source {meta.get('source')} -> {source}")
    if json.loads(meta.get("label", "null")) != label:
        found.append(f"label {meta.get('label')} -> {json.dumps(label)}")
    return found


def find_stale(jobs: list[tuple[Path, Path, int | None]], want: Mapping[str, Any]
               ) -> dict[Path, list[str]]:
    """{output: differences} of the existing outputs among `jobs` ((input, output, label))
    that are not done for this run."""
    stale = {}
    for source, out, label in jobs:
        if out.exists():
            found = differences(out, want, source, label)
            if found:
                stale[out] = found
    return stale


def refusal(out_dir: Path, stale: Mapping[Path, list[str]]) -> StaleFeatures:
    out, found = next(iter(stale.items()))
    return StaleFeatures(
        f"{out_dir} holds {len(stale)} feature file(s) made differently from this run, so "
        f"skipping them would mix old and new features; e.g. {out}: {'; '.join(found)}. "
        "Use another output folder, or --overwrite to recompute them.")
