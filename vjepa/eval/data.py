"""The evaluation's train and test sets: sources, transforms, per-rank loaders.

Every rank reads a disjoint part of a split, `indices[rank::world_size]` (no padding, no
duplicates), so merged counts cover every test video exactly once. Probe training batches are
shuffled per (seed, epoch); with augmentation the items are drawn per (seed, epoch, index).
"""

from __future__ import annotations

from typing import Any

import torch

from vjepa.data.decoders import DEFAULT_BACKEND
from vjepa.data.synthetic import COUNT_INDEX
from vjepa.data.transforms import EvalClipTransform
from vjepa.eval.augment import ProbeTrainTransform
from vjepa.eval.clips import MultiClipVideos, Tolerant, collate, image_dataset
from vjepa.eval.config import SYNTHETIC
from vjepa.pretrained import Preprocessing
from vjepa.train.data import synthetic_set


def _synthetic(d: Any, split: str) -> str:
    num = d.synthetic_num if split == "train" else d.synthetic_val_num
    seed = 0 if split == "train" else 1
    index = synthetic_set(d, num, seed, f"_seed{seed}")
    return str(index.parent / COUNT_INDEX) if d.label == "count" else str(index)


def split_source(d: Any, split: str) -> str:
    """The index file of `split` ("train" / "val"); "synthetic": the bundled set."""
    given = d.train if split == "train" else d.val
    return _synthetic(d, split) if given == SYNTHETIC else str(given)


def transform(d: Any, prep: Preprocessing, training: bool, augment: bool) -> Any:
    """Probe-training augmentation, or the fixed test views (3 along the long side after
    resizing the short side to the crop; 1: resize x 256/224 and centre crop)."""
    mean, std = prep.mean, prep.std
    if training and augment:
        return ProbeTrainTransform(d.resolution, mean, std)
    views = 1 if training else d.num_views
    resize = d.resolution if views == 3 else None
    return EvalClipTransform(d.resolution, resize, views, mean, std)


def build_split(d: Any, source: str, prep: Preprocessing, training: bool, augment: bool,
                seed: int) -> Tolerant:
    """A failure-tolerant dataset of one split (no neighbour replacement)."""
    tf = transform(d, prep, training, augment)
    if d.kind == "image":
        return Tolerant(image_dataset([source], tf, seed, d.timeout_s))
    videos = MultiClipVideos(
        [source], tf, frames_per_clip=d.frames_per_clip, frame_step=d.frame_step,
        num_clips=d.num_segments, random_start=training and augment,
        backend=d.backend or DEFAULT_BACKEND, timeout_s=d.timeout_s, seed=seed, max_retries=0,
        positions=d.test_positions,
    )
    return Tolerant(videos)


def rank_part(indices: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's disjoint part of `indices`."""
    return indices[rank::world_size]


def loader(dataset: Tolerant, batches: list[torch.Tensor], num_workers: int
           ) -> torch.utils.data.DataLoader:
    """A DataLoader over explicit index batches (order decided by the caller)."""
    return torch.utils.data.DataLoader(dataset, batch_sampler=[b.tolist() for b in batches],
                                       collate_fn=collate, num_workers=num_workers)


def labels_of(dataset: Tolerant) -> torch.Tensor:
    """The index file's labels (no decoding)."""
    return torch.tensor(dataset.dataset.labels, dtype=torch.long)
