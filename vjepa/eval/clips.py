"""The evaluation's samples: multi-clip videos (segments x views) and images, failures counted.

Test clip positions. A video is cut into `num_segments` equal parts, one clip per part:
- "centre" (default, deterministic): the clip is centred in its part;
- "official_random": a random position in its part, as the official evaluation does (its
  accuracy then varies run to run; ours is still reproducible per seed).
Videos shorter than a part (or than a clip) follow vjepa.data.sampling's rules (deterministic).

An item is `{"video": [S * V, C, T, H, W] (segment-major), "label", "index"}`; a file that
cannot be read gives `{"failed": (path, reason), "index"}` instead: evaluation never replaces
it by another video, and `collate` keeps the failures for the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vjepa.data.datasets import ClipDataset, ImageDataset, VideoDataset
from vjepa.data.decoders import DecodeError
from vjepa.data.sampling import sample_clip_indices, window_indices


def centre_clip_indices(num_frames: int, frames_per_clip: int, step: int, num_segments: int,
                        short_policy: str = "pad", path: str = "") -> torch.Tensor:
    """[num_segments, frames_per_clip] indices of clips centred in equal parts of the video."""
    clip_len = frames_per_clip * step
    part = num_frames // num_segments
    if num_frames < clip_len or part <= clip_len:  # the sampler's deterministic rules
        return sample_clip_indices(num_frames, frames_per_clip, step, num_segments, False,
                                   short_policy, None, path)
    starts = [i * part + (part - clip_len) // 2 for i in range(num_segments)]
    return torch.stack([window_indices(s, frames_per_clip, clip_len) for s in starts])


class MultiClipVideos(VideoDataset):
    """VideoDataset whose evaluation clips sit at segment centres (`positions="centre"`)."""

    def __init__(self, *args: object, positions: str = "centre", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.positions = positions

    def clip_indices(self, num_frames: int, step: int, generator: torch.Generator,
                     path: str) -> torch.Tensor:
        if self.random_start or self.positions == "official_random":
            return sample_clip_indices(num_frames, self.frames_per_clip, step, self.num_clips,
                                       True, self.short_policy, generator, path)
        return centre_clip_indices(num_frames, self.frames_per_clip, step, self.num_clips,
                                   self.short_policy, path)


class Tolerant(torch.utils.data.Dataset):
    """Wraps a dataset built with max_retries=0: a broken file becomes a `failed` item."""

    def __init__(self, dataset: ClipDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        try:
            item = self.dataset[index]
        except DecodeError as error:
            return {"failed": (self.dataset.samples[index].path, error.reason), "index": index}
        return {"video": item["video"], "label": item["label"], "index": index}


def collate(items: Sequence[dict]) -> dict:
    """Stack the good items; keep the failed ones' (index, path, reason)."""
    good = [i for i in items if "failed" not in i]
    failed = [(i["index"], *i["failed"]) for i in items if "failed" in i]
    if not good:
        return {"video": None, "label": torch.zeros(0, dtype=torch.long),
                "index": torch.zeros(0, dtype=torch.long), "failed": failed}
    return {"video": torch.stack([i["video"] for i in good]),
            "label": torch.tensor([i["label"] for i in good]),
            "index": torch.tensor([i["index"] for i in good]), "failed": failed}


def image_dataset(sources: Sequence[str], transform: object, seed: int,
                  timeout_s: float | None) -> ImageDataset:
    return ImageDataset(sources, transform, timeout_s=timeout_s, seed=seed, max_retries=0)
