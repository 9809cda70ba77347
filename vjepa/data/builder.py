"""One entry point from plain (Hydra-mappable) arguments to a dataset."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

from vjepa.data.datasets import ImageDataset, VideoDataset
from vjepa.data.decoders import DEFAULT_BACKEND
from vjepa.data.transforms import (
    IMAGE_RATIO,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VIDEO_RATIO,
    EvalClipTransform,
    TrainClipTransform,
)


def _check_no_video_args(**given: object) -> None:
    """An image dataset takes the video-only arguments at their defaults only."""
    defaults = inspect.signature(build_dataset).parameters
    changed = {k: v for k, v in given.items() if v != defaults[k].default}
    if changed:
        raise ValueError(f"video-only arguments set for an image dataset: {changed}")


def build_dataset(
    kind: str,
    sources: Sequence[str | Path],
    training: bool = True,
    weights: Sequence[float] | None = None,
    crop_size: int = 224,
    scale: Sequence[float] = (0.3, 1.0),
    ratio: Sequence[float] | None = None,
    hflip: bool = True,
    resize_size: int | None = None,
    num_views: int = 1,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    normalize: bool = True,
    frames_per_clip: int = 16,
    frame_step: int | None = 4,
    fps: float | None = None,
    duration: float | None = None,
    num_clips: int = 1,
    short_policy: str = "pad",
    backend: str = DEFAULT_BACKEND,
    num_threads: int = 1,
    timeout_s: float | None = 30.0,
    seed: int = 0,
    max_retries: int = 10,
) -> VideoDataset | ImageDataset:
    """Build a :class:`VideoDataset` (``kind="video"``) or :class:`ImageDataset` (``"image"``).

    ``training=True``: random resized crop (``scale``, ``ratio``; default ratio 0.75-1.35 for
    video, 3/4-4/3 for images) + flip, one view, random clip positions. ``training=False``:
    short side resized to ``resize_size`` then ``num_views`` (1 or 3) crops, clips at segment
    starts. Video-only arguments (``frames_per_clip`` ... ``num_threads``) must keep their
    defaults for images. See the dataset classes for the meaning of each argument.
    """
    if kind not in ("video", "image"):
        raise ValueError(f"kind must be 'video' or 'image', got {kind!r}")
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if training:
        if num_views != 1:
            raise ValueError(f"training uses one view per clip, got num_views={num_views}")
        default_ratio = VIDEO_RATIO if kind == "video" else IMAGE_RATIO
        transform = TrainClipTransform(
            crop_size, (float(scale[0]), float(scale[1])),
            tuple(float(r) for r in ratio) if ratio is not None else default_ratio,
            hflip, mean, std, normalize,
        )
    else:
        transform = EvalClipTransform(crop_size, resize_size, num_views, mean, std, normalize)
    if kind == "image":
        _check_no_video_args(frames_per_clip=frames_per_clip, frame_step=frame_step, fps=fps,
                             duration=duration, num_clips=num_clips, short_policy=short_policy,
                             backend=backend, num_threads=num_threads)
        return ImageDataset(sources, transform, weights, timeout_s, seed, max_retries)
    return VideoDataset(
        sources, transform, weights, frames_per_clip, frame_step, fps, duration, num_clips,
        training, short_policy, backend, num_threads, timeout_s, seed, max_retries,
    )
