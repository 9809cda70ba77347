"""Clip index arithmetic (which frames make a clip), kept identical to the official sampler.

A clip of ``frames_per_clip`` frames at ``frame_step`` covers a window of
``clip_len = frames_per_clip * frame_step`` frames; the frame indices are spread evenly over
that window: ``linspace(start, start + clip_len, frames_per_clip)``, truncated to integers
and clipped to the window (so 16 frames at step 4 read 0, 4, 8, 12, 17, ..., 59, 63).

With ``num_clips`` segments the video is cut into ``num_clips`` equal partitions and one
clip is placed in each: at a random end in ``[clip_len, partition_len)`` for training, at
the start of the partition for evaluation. When partitions are not longer than a clip but
the video is, clips overlap, their starts spread uniformly from 0 to ``len - clip_len``.
A video shorter than one window follows the short-video policy (:data:`SHORT_POLICIES`).
"""

from __future__ import annotations

import torch

from vjepa.data.decoders import DecodeError

SHORT_POLICIES: tuple[str, ...] = ("filter", "pad", "loop")


class ShortVideoError(DecodeError):
    """A video shorter than one clip window under the ``filter`` policy."""

    def __init__(self, path: str, num_frames: int, clip_len: int) -> None:
        super().__init__(path, "too_short", f"{num_frames} frames < window of {clip_len}")


def resolve_frame_step(
    frames_per_clip: int,
    frame_step: int | None,
    fps: float | None,
    duration: float | None,
    video_fps: float,
) -> int:
    """The stride between sampled frames, from exactly one of three ways to ask for it.

    Args:
        frame_step: a fixed stride in frames.
        fps: a target sampling rate: stride ``round(video_fps / fps)``.
        duration: seconds covered by a clip: stride ``int(duration * video_fps /
            frames_per_clip)`` (the official ``duration`` option).
        video_fps: the video's frame rate (used by ``fps`` and ``duration``).
    """
    given = [name for name, v in (("frame_step", frame_step), ("fps", fps),
                                  ("duration", duration)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"set exactly one of frame_step, fps, duration; got {given or 'none'}")
    if frame_step is not None:
        step = int(frame_step)
    elif video_fps <= 0:
        raise ValueError(f"video frame rate must be positive to sample by time, got {video_fps}")
    elif fps is not None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        step = round(video_fps / fps)
    else:
        if duration <= 0:
            raise ValueError(f"duration must be positive, got {duration}")
        step = int(duration * video_fps / frames_per_clip)
    return max(1, step)


def window_indices(start: int, frames_per_clip: int, clip_len: int) -> torch.Tensor:
    """``frames_per_clip`` indices spread evenly over ``[start, start + clip_len)``."""
    spread = torch.linspace(start, start + clip_len, frames_per_clip, dtype=torch.float64)
    return spread.clamp(max=start + clip_len - 1).long()


def sample_clip_indices(
    num_frames: int,
    frames_per_clip: int,
    frame_step: int,
    num_clips: int = 1,
    random_start: bool = True,
    short_policy: str = "pad",
    generator: torch.Generator | None = None,
    path: str = "",
) -> torch.Tensor:
    """Frame indices of ``num_clips`` clips of a video with ``num_frames`` frames.

    Args:
        random_start: draw each clip's position in its partition (training) or take the
            partition start (evaluation).
        short_policy: for a video shorter than one window: ``filter`` raises
            :class:`ShortVideoError` (the dataset then counts it and uses a neighbour),
            ``pad`` repeats the last frame, ``loop`` wraps around to the first frame.
        generator: source of the random positions.
        path: named in the error of the ``filter`` policy.

    Returns:
        LongTensor [num_clips, frames_per_clip] of indices in ``[0, num_frames)``.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if frames_per_clip < 1 or frame_step < 1 or num_clips < 1:
        raise ValueError(
            f"frames_per_clip, frame_step, num_clips must be >= 1, got "
            f"{frames_per_clip}, {frame_step}, {num_clips}"
        )
    if short_policy not in SHORT_POLICIES:
        raise ValueError(f"unknown short_policy {short_policy!r}; choose one of {SHORT_POLICIES}")
    clip_len = frames_per_clip * frame_step
    if num_frames < clip_len:
        if short_policy == "filter":
            raise ShortVideoError(path, num_frames, clip_len)
        base = window_indices(0, frames_per_clip, clip_len)
        if short_policy == "pad":
            base = base.clamp(max=num_frames - 1)
        else:
            base = base % num_frames
        return base.expand(num_clips, frames_per_clip).clone()

    partition_len = num_frames // num_clips
    clips = []
    for i in range(num_clips):
        if partition_len > clip_len:
            end = clip_len
            if random_start:
                end = int(torch.randint(clip_len, partition_len, (1,), generator=generator))
            start = i * partition_len + end - clip_len
        else:
            spacing = (num_frames - clip_len) // (num_clips - 1) if num_clips > 1 else 0
            start = i * spacing
        clips.append(window_indices(start, frames_per_clip, clip_len))
    return torch.stack(clips)
