"""Whole-clip transforms: one random draw per clip, applied to every frame.

The fast path stays in uint8 as long as it can: the crop is a view of the decoded frames,
the flip is folded into the one copy to channels-last layout, the resize runs on uint8
(torchvision.transforms.v2's antialiased uint8 kernel) and only the final normalisation
writes floats, straight into the [C, T, H, W] layout. With ``normalize=False`` the
transforms return uint8 and :func:`normalize_batch` finishes the job on the GPU, in batches.

Random crop parameters are drawn from an explicit ``torch.Generator`` (torchvision's own
``RandomResizedCrop`` reads the global RNG, which would break per-sample reproducibility).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
VIDEO_RATIO: tuple[float, float] = (0.75, 1.35)  # V-JEPA random-resized-crop aspect range
IMAGE_RATIO: tuple[float, float] = (3 / 4, 4 / 3)  # I-JEPA (torchvision default)


def _uniform(generator: torch.Generator | None, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def random_resized_crop_params(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator | None,
) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of an Inception-style random crop: area fraction in ``scale``,
    aspect ratio w/h log-uniform in ``ratio``; after 10 misses, the largest centred crop
    with the nearest allowed ratio."""
    if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], "
                         f"got scale={scale}, ratio={ratio}")
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * _uniform(generator, *scale)
        aspect = math.exp(_uniform(generator, *log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def _scale_shift(mean: tuple[float, ...], std: tuple[float, ...]) -> list[tuple[float, float]]:
    if len(mean) != len(std) or any(s <= 0 for s in std):
        raise ValueError(f"mean and std need equal lengths and positive std, got {mean}, {std}")
    return [(1.0 / (255.0 * s), m / s) for m, s in zip(mean, std, strict=True)]


def normalize_clip(clip: torch.Tensor, mean: tuple[float, ...] = IMAGENET_MEAN,
                   std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """uint8 [T, C, H, W] (0-255) -> float32 [C, T, H, W], ``(x / 255 - mean) / std``."""
    if clip.dtype != torch.uint8 or clip.ndim != 4:
        raise ValueError(f"expected uint8 [T, C, H, W], got {clip.dtype} {tuple(clip.shape)}")
    frames, channels, height, width = clip.shape
    out = torch.empty(channels, frames, height, width, dtype=torch.float32)
    for c, (scale, shift) in enumerate(_scale_shift(mean, std)):
        # one pass per channel: out = -shift + scale * x, uint8 read, float32 written
        torch.add(torch.tensor(-shift), clip[:, c], alpha=scale, out=out[c])
    return out


def normalize_batch(video: torch.Tensor, mean: tuple[float, ...] = IMAGENET_MEAN,
                    std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """uint8 [..., C, T, H, W] on any device (the GPU path) -> normalised float32."""
    if video.dtype != torch.uint8 or video.ndim < 4:
        raise ValueError(f"expected uint8 [..., C, T, H, W], got {video.dtype} "
                         f"{tuple(video.shape)}")
    pairs = _scale_shift(mean, std)
    scale = torch.tensor([p[0] for p in pairs], device=video.device).view(-1, 1, 1, 1)
    shift = torch.tensor([p[1] for p in pairs], device=video.device).view(-1, 1, 1, 1)
    return video.float().mul_(scale).sub_(shift)


def _to_tchw(frames: np.ndarray | torch.Tensor, flip: bool) -> torch.Tensor:
    """[T, H, W, C] uint8 (a view is fine) -> [T, C, H, W] channels-last copy, maybe flipped."""
    tensor = torch.from_numpy(frames) if isinstance(frames, np.ndarray) else frames
    if flip:
        tensor = tensor.flip(2)
    else:
        tensor = tensor.contiguous()
    return tensor.permute(0, 3, 1, 2)


def _check_frames(frames: np.ndarray | torch.Tensor) -> None:
    if frames.dtype not in (np.uint8, torch.uint8) or frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"expected uint8 RGB frames [T, H, W, 3], got {frames.dtype} "
                         f"{tuple(frames.shape)}")


class TrainClipTransform:
    """Random resized crop + horizontal flip + normalisation, one draw for the whole clip.

    Args:
        crop_size: output height and width.
        scale: crop area fraction range (0.3-1.0 for both V-JEPA and I-JEPA).
        ratio: crop aspect (w/h) range: :data:`VIDEO_RATIO` for V-JEPA, :data:`IMAGE_RATIO`
            for I-JEPA.
        hflip: flip the whole clip with probability 0.5.
        normalize: return normalised float32; ``False`` returns uint8 for
            :func:`normalize_batch` on the device.
    """

    def __init__(self, crop_size: int = 224, scale: tuple[float, float] = (0.3, 1.0),
                 ratio: tuple[float, float] = VIDEO_RATIO, hflip: bool = True,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
                 normalize: bool = True) -> None:
        if crop_size < 1:
            raise ValueError(f"crop_size must be >= 1, got {crop_size}")
        _scale_shift(mean, std)
        random_resized_crop_params(1, 1, scale, ratio, torch.Generator())  # validates ranges
        self.crop_size, self.scale, self.ratio, self.hflip = crop_size, scale, ratio, hflip
        self.mean, self.std, self.normalize = mean, std, normalize

    def __call__(self, frames: np.ndarray | torch.Tensor,
                 generator: torch.Generator | None) -> torch.Tensor:
        """uint8 [T, H, W, 3] -> [1, C, T, crop, crop] (float32, or uint8 if not normalising)."""
        _check_frames(frames)
        top, left, h, w = random_resized_crop_params(
            frames.shape[1], frames.shape[2], self.scale, self.ratio, generator
        )
        flip = self.hflip and bool(torch.rand((), generator=generator) < 0.5)
        clip = _to_tchw(frames[:, top : top + h, left : left + w], flip)
        clip = TF.resize(clip, [self.crop_size, self.crop_size], antialias=True)
        return _finish(clip, self.normalize, self.mean, self.std).unsqueeze(0)


def _finish(clip: torch.Tensor, normalize: bool, mean: tuple[float, ...],
            std: tuple[float, ...]) -> torch.Tensor:
    if normalize:
        return normalize_clip(clip, mean, std)
    return clip.permute(1, 0, 2, 3).contiguous()


class EvalClipTransform:
    """Resize the short side, then one centre crop or ``num_views`` crops along the long side.

    Args:
        crop_size: output height and width.
        resize_size: short side after resizing; default ``round(crop_size * 256 / 224)``.
        num_views: 1 (centre) or 3 (start, centre, end of the long side).
    """

    def __init__(self, crop_size: int = 224, resize_size: int | None = None, num_views: int = 1,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
                 normalize: bool = True) -> None:
        resize_size = round(crop_size * 256 / 224) if resize_size is None else resize_size
        if crop_size < 1 or resize_size < crop_size:
            raise ValueError(f"need 1 <= crop_size <= resize_size, got {crop_size}, {resize_size}")
        if num_views not in (1, 3):
            raise ValueError(f"num_views must be 1 or 3, got {num_views}")
        _scale_shift(mean, std)
        self.crop_size, self.resize_size, self.num_views = crop_size, resize_size, num_views
        self.mean, self.std, self.normalize = mean, std, normalize

    def __call__(self, frames: np.ndarray | torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 [T, H, W, 3] -> [num_views, C, T, crop, crop]; ``generator`` is unused."""
        _check_frames(frames)
        clip = TF.resize(_to_tchw(frames, flip=False), self.resize_size, antialias=True)
        height, width = clip.shape[-2:]
        size = self.crop_size
        if self.num_views == 1:
            tops, lefts = [(height - size) // 2], [(width - size) // 2]
        elif width >= height:
            tops, lefts = [(height - size) // 2] * 3, [0, (width - size) // 2, width - size]
        else:
            tops, lefts = [0, (height - size) // 2, height - size], [(width - size) // 2] * 3
        views = [
            _finish(TF.crop(clip, top, left, size, size), self.normalize, self.mean, self.std)
            for top, left in zip(tops, lefts, strict=True)
        ]
        return torch.stack(views)
