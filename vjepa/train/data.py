"""Training data order as a function of the step: batches, step tags, masks, the loader.

Sample `j` of rank `r` at micro-step `s` is position `q = (s * world + r) * batch + j` of an
endless stream of permutations of the data set (permutation `q // N` drawn from
(data seed, pass)). Batches, masks (seeded from (mask seed, step)) and crops (seeded by the data
set from (seed, epoch, index)) are therefore functions of the step: a resumed run needs no replay.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vjepa.data.builder import build_dataset
from vjepa.data.collate import collate_samples
from vjepa.data.decoders import DEFAULT_BACKEND
from vjepa.data.synthetic import (
    BACKGROUND_CELLS,
    IMAGE_SET_VERSION,
    VIDEO_SET_VERSION,
    make_synthetic_images,
    make_synthetic_videos,
)
from vjepa.masks.collator import MaskCollator
from vjepa.seeding import generator_for
from vjepa.train.signals import ignore_in_worker


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields, for micro-steps [start, stop), the batch of this rank as (index, step) pairs.

    Args:
        num_samples: data set length N.
        batch_size: samples per rank and micro-step.
        seed: data-order seed (permutation p is drawn from generator_for(seed, p)).
        rank / world_size: this process and the number of processes (data is sharded).
        weights: per-sample weights (mixed sources): then each batch is drawn with replacement
            from generator_for(seed, step, rank) instead of the permutation stream.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, weights: list[float] | None = None) -> None:
        if num_samples < 1 or batch_size < 1:
            raise ValueError(f"need num_samples >= 1 and batch_size >= 1, got "
                             f"{num_samples}, {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world size {world_size}")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.rank, self.world_size = rank, world_size
        if weights is not None and len(weights) != num_samples:
            raise ValueError(f"{len(weights)} sample weights for {num_samples} samples")
        self.weights = torch.as_tensor(weights, dtype=torch.float64) if weights else None
        self.start, self.stop = 0, 0
        self._perm = lru_cache(maxsize=4)(self._permutation)

    def _permutation(self, pass_index: int) -> torch.Tensor:
        return torch.randperm(self.num_samples, generator=generator_for(self.seed, pass_index))

    def set_range(self, start: int, stop: int) -> None:
        """Micro-steps [start, stop) for the next iteration over the sampler."""
        if not 0 <= start <= stop:
            raise ValueError(f"need 0 <= start <= stop, got {start}, {stop}")
        self.start, self.stop = start, stop

    def batch(self, step: int) -> list[tuple[int, int]]:
        if self.weights is not None:
            g = generator_for(self.seed, step, self.rank)
            drawn = torch.multinomial(self.weights, self.batch_size, True, generator=g)
            return [(int(i), step) for i in drawn]
        first = (step * self.world_size + self.rank) * self.batch_size
        out = []
        for q in range(first, first + self.batch_size):
            out.append((int(self._perm(q // self.num_samples)[q % self.num_samples]), step))
        return out

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.stop):
            yield self.batch(step)

    def __len__(self) -> int:
        return self.stop - self.start


class StepTagged(Dataset):
    """Wraps a data set: item (index, step) is `dataset[index]` plus {"step": step}."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, step = key
        return {**self.dataset[index], "step": step}

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)


def collate_untagged(samples: list[dict]) -> dict:
    """The data package's collate, after dropping the step tag the mask collator has read."""
    return collate_samples([{k: v for k, v in s.items() if k != "step"} for s in samples])


def make_loader(dataset: Any, sampler: StepBatchSampler, collator: MaskCollator,
                num_workers: int, pin_memory: bool, seed: int) -> DataLoader:
    """A DataLoader over the sampler's current range. Its worker seeds come from its own
    generator seeded with `seed`, so loading never draws from the global torch generator."""
    return DataLoader(
        StepTagged(dataset), batch_sampler=sampler, collate_fn=collator,
        num_workers=num_workers, pin_memory=pin_memory, persistent_workers=False,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=ignore_in_worker if num_workers else None,
    )


def synthetic_root(cache_dir: str, kind: str, num: int, size: int, frames: int,
                   shapes: int = 1, background_cells: int = BACKGROUND_CELLS) -> Path:
    """Where the default synthetic set with these parameters lives in the cache."""
    if kind == "video":
        name = f"videos_v{VIDEO_SET_VERSION}_n{num}_s{size}_f{frames}"
        name += f"_k{shapes}" if shapes > 1 else ""
        name += f"_b{background_cells}" if background_cells != BACKGROUND_CELLS else ""
    else:
        name = f"images_v{IMAGE_SET_VERSION}_n{num}_s{size}"
    return Path(cache_dir).expanduser() / "synthetic" / name


def synthetic_set(d: Any, num: int, seed: int = 0, tag: str = "",
                  progress: bool = False) -> Path:
    """The synthetic set of a data config (`kind`, `cache_dir`, `synthetic_size`,
    `synthetic_frames`, `synthetic_shapes`, `synthetic_background`) with ``num`` samples drawn
    from ``seed``, built on first use in the cache folder (its name + ``tag``); returns its
    index file."""
    root = synthetic_root(d.cache_dir, d.kind, num, d.synthetic_size, d.synthetic_frames,
                          d.synthetic_shapes, d.synthetic_background)
    root = root.with_name(root.name + tag)
    workers = min(4, os.cpu_count() or 1)
    if d.kind == "video":
        return make_synthetic_videos(root, num, num_frames=d.synthetic_frames,
                                     size=d.synthetic_size, seed=seed, num_workers=workers,
                                     progress=progress, max_shapes=d.synthetic_shapes,
                                     background_cells=d.synthetic_background)
    return make_synthetic_images(root, num, size=d.synthetic_size, seed=seed,
                                 num_workers=workers, progress=progress)


def data_sources(d: Any) -> list[str]:
    """The configured sources, or the synthetic set (built on first use) when none are given."""
    if d.sources:
        return [str(s) for s in d.sources]
    return [str(synthetic_set(d, d.synthetic_num, progress=True))]


def build_train_dataset(cfg: Any, sources: list[str]) -> Any:
    """The training VideoDataset / ImageDataset of the config."""
    d, m = cfg.data, cfg.model
    video = d.kind == "video"
    by_time = d.fps is not None or d.duration is not None  # they replace frame_step
    extra = dict(frames_per_clip=m.num_frames, frame_step=None if by_time else d.frame_step,
                 fps=d.fps, duration=d.duration, num_clips=d.num_clips,
                 short_policy=d.short_policy, backend=d.decoder or DEFAULT_BACKEND) if video else {}
    return build_dataset(
        d.kind, sources, training=True, weights=d.weights, crop_size=m.crop_size,
        scale=tuple(d.random_resize_scale), ratio=tuple(d.random_resize_aspect_ratio),
        hflip=d.horizontal_flip, timeout_s=d.timeout_s, seed=cfg.seed, **extra,
    )
