"""Feature cache: a split's frozen features encoded once, stored as safetensors shards.

    <dir>/key.json                      what the features depend on (checkpoint, protocol)
    <dir>/r<rank>-<k:05d>.safetensors   "features" [n, V, ...], "labels" [n], "index" [n]
    <dir>/r<rank>.json                  written last: shard count, samples, failed files

A rank's cache is used only if its marker exists and the key matches; otherwise it is
rebuilt (an interrupted or stale cache is never read). Files are written through
`atomic_write` like `vjepa extract`'s, so a crash never leaves a half-written shard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vjepa.checkpoints.io import atomic_write, read_safetensors


@dataclass
class Split:
    """A split's features in memory (this rank's part) and its failed files."""

    features: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    failed: list[tuple[int, str, str]] = field(default_factory=list)


Batch = tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, list]


def _marker(folder: Path, rank: int) -> Path:
    return folder / f"r{rank}.json"


def _empty(failed: list) -> Split:
    return Split(torch.zeros(0), torch.zeros(0, dtype=torch.long),
                 torch.zeros(0, dtype=torch.long), failed)


def load(folder: Path, key: dict, rank: int) -> Split | None:
    """This rank's cached split, or None when absent, incomplete or made under another key."""
    marker, key_file = _marker(folder, rank), folder / "key.json"
    if not marker.is_file() or not key_file.is_file():
        return None
    if json.loads(key_file.read_text()) != key:
        return None
    info = json.loads(marker.read_text())
    parts = [read_safetensors(folder / f"r{rank}-{k:05d}.safetensors")[0]
             for k in range(info["shards"])]
    failed = [tuple(f) for f in info["failed"]]
    if not parts:
        return _empty(failed)
    cat = {name: torch.cat([p[name] for p in parts]) for name in ("features", "labels", "index")}
    return Split(cat["features"], cat["labels"], cat["index"], failed)


def _save_shard(path: Path, feats: torch.Tensor, labels: torch.Tensor, index: torch.Tensor
                ) -> None:
    from safetensors.torch import save_file

    with atomic_write(path) as tmp:
        save_file({"features": feats.contiguous(), "labels": labels.contiguous(),
                   "index": index.contiguous()}, str(tmp))


def collect(batches: Iterable[Batch], folder: Path | None = None, rank: int = 0) -> Split:
    """A split from its batches, each also written as a shard under `folder` if given."""
    feats, labels, index, failed = [], [], [], []
    for feat, label, idx, bad in batches:
        failed += bad
        if feat is None:
            continue
        if folder is not None:
            _save_shard(folder / f"r{rank}-{len(feats):05d}.safetensors", feat.cpu(), label, idx)
        feats.append(feat.cpu())
        labels.append(label)
        index.append(idx)
    if not feats:
        return _empty(failed)
    return Split(torch.cat(feats), torch.cat(labels), torch.cat(index), failed)


def build(folder: Path, key: dict, rank: int, batches: Iterable[Batch]) -> Split:
    """Encode every batch into shards (one per batch), write the marker, return the split."""
    folder.mkdir(parents=True, exist_ok=True)
    _marker(folder, rank).unlink(missing_ok=True)
    for old in folder.glob(f"r{rank}-*.safetensors"):
        old.unlink()
    if rank == 0:
        with atomic_write(folder / "key.json") as tmp:
            tmp.write_text(json.dumps(key, indent=1, sort_keys=True))
    split = collect(batches, folder, rank)
    shards = len(list(folder.glob(f"r{rank}-*.safetensors")))
    info = {"shards": shards, "samples": len(split.labels), "failed": split.failed}
    with atomic_write(_marker(folder, rank)) as tmp:
        tmp.write_text(json.dumps(info, indent=1))
    return split


def cached(folder: Path, key: dict, rank: int, batches: Iterable[Batch]) -> Split:
    """`load`, else `build` (`batches` is only iterated when building)."""
    split = load(folder, key, rank)
    return split if split is not None else build(folder, key, rank, batches)
