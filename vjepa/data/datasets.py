"""Video and image datasets with one item format and deterministic bad-sample handling.

``dataset[i]`` returns::

    {
        "video": Tensor [V, C, T, H, W],  # float32 (uint8 with normalize=False); V = num_clips *
                                          # num_views (1 in training); images have T = 1
        "label": int,
        "index": int,                     # index of the sample actually delivered
        "clip_indices": LongTensor [num_clips, T],  # frame indices (zeros for images)
        "bad": list[(path, reason)],      # broken files met (and replaced) for this item
    }

A broken file is replaced by its next neighbour in the index (``i + 1``, ``i + 2``, ... mod
``len``), so the replacement is deterministic; each failure is listed in ``"bad"`` for the
main process's :class:`~vjepa.data.bad_samples.BadSampleTracker`.

Every random draw (clip start, crop, flip) comes from a ``torch.Generator`` seeded from
``(seed, epoch, index)``: call ``set_epoch(epoch)`` each epoch and any item is reproducible
whatever the worker, the number of workers or a resume.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from vjepa.data.decoders import DEFAULT_BACKEND, DecodeError, check_file, read_frames, run_bounded
from vjepa.data.index import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Sample, mix_sources
from vjepa.data.sampling import SHORT_POLICIES, resolve_frame_step, sample_clip_indices
from vjepa.seeding import generator_for

# (uint8 frames [T, H, W, 3], generator) -> [views, C, T, H, W]
ClipTransform = Callable[[np.ndarray, torch.Generator], torch.Tensor]


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator whose state depends only on ``(seed, epoch, index)`` (well mixed)."""
    if min(seed, epoch, index) < 0:
        raise ValueError(f"seed, epoch, index must be >= 0, got {seed}, {epoch}, {index}")
    return generator_for(seed, epoch, index)


class ClipDataset(torch.utils.data.Dataset):
    """Shared machinery: samples, epochs, seeding, neighbour replacement of broken files."""

    def __init__(self, samples: list[Sample], sample_weights: list[float] | None,
                 transform: ClipTransform, seed: int, max_retries: int) -> None:
        if max_retries < 0 or seed < 0:
            raise ValueError(f"max_retries and seed must be >= 0, got {max_retries}, {seed}")
        self.samples = samples
        self.sample_weights = sample_weights
        self.transform = transform
        self.seed = seed
        self.max_retries = max_retries
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, path: str, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (video [V, C, T, H, W], clip_indices [num_clips, T]); raises DecodeError."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        generator = sample_generator(self.seed, self.epoch, index)
        bad: list[tuple[str, str]] = []
        for attempt in range(min(self.max_retries, len(self) - 1) + 1):
            candidate = (index + attempt) % len(self)
            sample = self.samples[candidate]
            try:
                video, clip_indices = self._load(sample.path, generator)
            except DecodeError as error:
                bad.append((sample.path, error.reason))
                continue
            return {"video": video, "label": sample.label, "index": candidate,
                    "clip_indices": clip_indices, "bad": bad}
        raise DecodeError(
            self.samples[index].path, bad[-1][1],
            f"it and its {len(bad) - 1} next neighbours all failed: {bad}",
        )


class VideoDataset(ClipDataset):
    """Clips from an index of videos (see :mod:`vjepa.data.sampling` for the arithmetic).

    Args:
        sources: index files (``path label``) and/or folders ``root/<class>/<video>``.
        weights: one sampling weight per source (``sample_weights`` for a weighted sampler).
        transform: ``TrainClipTransform`` (one view) or ``EvalClipTransform`` (1 or 3 views).
        frames_per_clip: frames in a clip.
        frame_step / fps / duration: exactly one sets the stride between sampled frames.
        num_clips: clips per video, one per equal segment.
        random_start: random clip positions (training) or segment starts (evaluation).
        short_policy: ``filter``, ``pad`` or ``loop`` for videos shorter than a window.
        backend: ``pyav``, ``decord`` or ``torchcodec``.
        num_threads: decoder threads per worker (1: many workers do not oversubscribe cores).
        timeout_s: bound on opening + decoding one video (``None``: unbounded).
        seed: base of the per-item generators.
        max_retries: neighbours tried after a broken file before the item fails.
    """

    def __init__(
        self,
        sources: Sequence[str | Path],
        transform: ClipTransform,
        weights: Sequence[float] | None = None,
        frames_per_clip: int = 16,
        frame_step: int | None = 4,
        fps: float | None = None,
        duration: float | None = None,
        num_clips: int = 1,
        random_start: bool = True,
        short_policy: str = "pad",
        backend: str = DEFAULT_BACKEND,
        num_threads: int = 1,
        timeout_s: float | None = 30.0,
        seed: int = 0,
        max_retries: int = 10,
    ) -> None:
        samples, sample_weights = mix_sources(sources, weights, VIDEO_EXTENSIONS)
        super().__init__(samples, sample_weights, transform, seed, max_retries)
        resolve_frame_step(frames_per_clip, frame_step, fps, duration, 30.0)  # validates
        if frames_per_clip < 1 or num_clips < 1:
            raise ValueError(f"frames_per_clip and num_clips must be >= 1, got "
                             f"{frames_per_clip}, {num_clips}")
        if short_policy not in SHORT_POLICIES:
            raise ValueError(f"unknown short_policy {short_policy!r}; use one of {SHORT_POLICIES}")
        self.frames_per_clip, self.frame_step, self.fps, self.duration = (
            frames_per_clip, frame_step, fps, duration)
        self.num_clips, self.random_start, self.short_policy = num_clips, random_start, short_policy
        self.backend, self.num_threads, self.timeout_s = backend, num_threads, timeout_s

    def clip_indices(self, num_frames: int, step: int, generator: torch.Generator,
                     path: str) -> torch.Tensor:
        """[num_clips, frames_per_clip] frame indices (subclasses place clips differently)."""
        return sample_clip_indices(num_frames, self.frames_per_clip, step, self.num_clips,
                                   self.random_start, self.short_policy, generator, path)

    def _load(self, path: str, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        # The clip positions get their own generator: a timed-out decode thread that is
        # abandoned must not keep drawing from the one the replacement sample uses.
        clip_seed = int(torch.randint(0, 2**62, (1,), generator=generator))

        def indices(num_frames: int, video_fps: float) -> np.ndarray:
            step = resolve_frame_step(self.frames_per_clip, self.frame_step, self.fps,
                                      self.duration, video_fps)
            clips = self.clip_indices(num_frames, step,
                                      torch.Generator().manual_seed(clip_seed), path)
            return clips.flatten().numpy()

        frames, flat, _, _ = read_frames(path, indices, self.backend, self.num_threads,
                                         self.timeout_s)
        t = self.frames_per_clip
        views = [self.transform(frames[k * t : (k + 1) * t], generator)
                 for k in range(self.num_clips)]
        video = views[0] if len(views) == 1 else torch.cat(views)  # no copy for one clip
        return video, torch.from_numpy(flat).view(self.num_clips, t)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB [1, H, W, 3] (a one-frame clip); raises DecodeError."""
    path = check_file(path)
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))[None]
    except UnidentifiedImageError as error:
        raise DecodeError(path, "not_image", str(error)) from error
    except OSError as error:  # PIL reports truncated data as OSError
        raise DecodeError(path, "truncated", str(error)) from error


class ImageDataset(ClipDataset):
    """Images from an index file or an ImageFolder tree, as one-frame clips.

    Args:
        sources: index files (``path label``) and/or folders ``root/<class>/<image>``.
        transform: ``TrainClipTransform(ratio=IMAGE_RATIO)`` or ``EvalClipTransform``.
        weights, timeout_s, seed, max_retries: as for :class:`VideoDataset`.
    """

    def __init__(
        self,
        sources: Sequence[str | Path],
        transform: ClipTransform,
        weights: Sequence[float] | None = None,
        timeout_s: float | None = 30.0,
        seed: int = 0,
        max_retries: int = 10,
    ) -> None:
        samples, sample_weights = mix_sources(sources, weights, IMAGE_EXTENSIONS)
        super().__init__(samples, sample_weights, transform, seed, max_retries)
        self.timeout_s = timeout_s

    def _load(self, path: str, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        frames = run_bounded(lambda: read_image(path), self.timeout_s, path)
        return self.transform(frames, generator), torch.zeros(1, 1, dtype=torch.long)
