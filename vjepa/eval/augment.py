"""Probe-training augmentation of the official V-JEPA evaluation, with torchvision.transforms.v2.

Official order: RandAugment (m7, n4) on the whole frames, normalise, random resized crop
(scale 0.08-1, ratio 0.75-4/3), no flip, random erasing p 0.25 with random pixel values. One
draw per clip, applied to every frame. Differences to the official timm port, by design:
torchvision's RandAugment has no magnitude noise (official `mstd0.5`), and the erased
rectangle is the same in every frame (timm's erases a different one per frame).

The random draws come from the sample's generator (a seed taken from it drives the global
RNG inside `fork_rng`), so items are reproducible per (seed, epoch, index).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from vjepa.data.transforms import IMAGENET_MEAN, IMAGENET_STD, TrainClipTransform, normalize_clip


class ProbeTrainTransform:
    """uint8 frames [T, H, W, 3] + generator -> float32 [1, C, T, crop, crop]."""

    def __init__(self, crop_size: int = 224, mean: tuple[float, ...] = IMAGENET_MEAN,
                 std: tuple[float, ...] = IMAGENET_STD, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (0.75, 4 / 3), reprob: float = 0.25,
                 num_ops: int = 4, magnitude: int = 7) -> None:
        self.crop = TrainClipTransform(crop_size, scale, ratio, hflip=False, mean=mean, std=std,
                                       normalize=False)
        self.randaug = v2.RandAugment(num_ops=num_ops, magnitude=magnitude)
        self.erase = v2.RandomErasing(p=reprob, value="random") if reprob > 0 else None
        self.mean, self.std = mean, std

    def __call__(self, frames: np.ndarray | torch.Tensor,
                 generator: torch.Generator | None) -> torch.Tensor:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            video = tv_tensors.Video(torch.as_tensor(frames).permute(0, 3, 1, 2))
            video = self.randaug(video).permute(0, 2, 3, 1)  # [T, H, W, 3] uint8
            clip = self.crop(video, generator)[0]  # uint8 [C, T, crop, crop]
            clip = normalize_clip(clip.permute(1, 0, 2, 3), self.mean, self.std)  # [C, T, h, w]
            if self.erase is not None:
                clip = self.erase(clip.permute(1, 0, 2, 3)).permute(1, 0, 2, 3)
        return clip.unsqueeze(0)
