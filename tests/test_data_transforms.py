"""Whole-clip transforms: one crop/flip per clip, fast path against a float reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vjepa.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VIDEO_RATIO,
    EvalClipTransform,
    TrainClipTransform,
    normalize_batch,
    normalize_clip,
    random_resized_crop_params,
)


def offset_clip(frames: int = 6, height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """Frame t = one random smooth image + 4*t: any per-frame crop or flip breaks the offset."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.uniform(20, 200, (1, 3, 6, 8))).float()
    base = F.interpolate(coarse, size=(height, width), mode="bilinear")[0].permute(1, 2, 0)
    return np.stack([(base + 4 * t).round().numpy().astype(np.uint8) for t in range(frames)])


@pytest.mark.parametrize("seed", range(6))
def test_same_crop_and_flip_on_every_frame(seed: int) -> None:
    transform = TrainClipTransform(crop_size=32, normalize=False)
    out = transform(offset_clip(seed=seed), torch.Generator().manual_seed(seed))
    assert out.shape == (1, 3, 6, 32, 32) and out.dtype == torch.uint8
    diffs = out[0].int() - out[0, :, :1].int()  # [C, T, H, W] minus frame 0
    for t in range(6):
        assert (diffs[:, t] - 4 * t).abs().max() <= 1, t


def test_fast_path_matches_float_reference() -> None:
    clip = offset_clip(frames=4, seed=3)
    for seed in range(8):
        transform = TrainClipTransform(crop_size=40)
        ours = transform(clip, torch.Generator().manual_seed(seed))[0]
        g = torch.Generator().manual_seed(seed)
        top, left, h, w = random_resized_crop_params(60, 80, (0.3, 1.0), VIDEO_RATIO, g)
        flip = bool(torch.rand((), generator=g) < 0.5)
        ref = torch.from_numpy(clip).float().permute(0, 3, 1, 2)[:, :, top:top + h, left:left + w]
        ref = F.interpolate(ref, size=(40, 40), mode="bilinear", antialias=True)
        ref = ref.flip(-1) if flip else ref
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        ref = ((ref / 255 - mean) / std).permute(1, 0, 2, 3)
        # uint8 resizing rounds to integers: at most ~1 grey level apart
        assert (ours - ref).abs().max() < 1.6 / 255 / 0.224, seed


def test_transform_is_reproducible_per_generator() -> None:
    clip = offset_clip()
    transform = TrainClipTransform(crop_size=24)
    a = transform(clip, torch.Generator().manual_seed(1))
    b = transform(clip, torch.Generator().manual_seed(1))
    others = [transform(clip, torch.Generator().manual_seed(s)) for s in range(2, 6)]
    assert torch.equal(a, b)
    assert any(not torch.equal(a, o) for o in others)


def test_crop_params_respect_scale_and_ratio() -> None:
    for seed in range(100):
        g = torch.Generator().manual_seed(seed)
        top, left, h, w = random_resized_crop_params(240, 320, (0.3, 1.0), VIDEO_RATIO, g)
        assert 0 <= top <= 240 - h and 0 <= left <= 320 - w
        assert 0.29 <= h * w / (240 * 320) <= 1.0
        assert 0.74 <= w / h <= 1.36
    with pytest.raises(ValueError, match="scale"):
        random_resized_crop_params(10, 10, (0.5, 0.2), VIDEO_RATIO, None)


def test_normalize_clip_and_batch_agree() -> None:
    clip = torch.from_numpy(offset_clip()).permute(0, 3, 1, 2)  # [T, C, H, W] uint8
    a = normalize_clip(clip)
    b = normalize_batch(clip.permute(1, 0, 2, 3).unsqueeze(0))[0]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    ref = (clip.permute(1, 0, 2, 3).float() / 255 - mean) / std
    torch.testing.assert_close(a, ref)
    torch.testing.assert_close(b, ref)
    with pytest.raises(ValueError, match="float32"):
        normalize_clip(clip.float())


def test_eval_three_views_cover_the_long_side() -> None:
    ramp = np.broadcast_to(np.linspace(0, 255, 80).astype(np.uint8)[None, None, :, None],
                           (2, 40, 80, 3)).copy()
    views = EvalClipTransform(crop_size=40, resize_size=40, num_views=3, normalize=False)(ramp)
    assert views.shape == (3, 3, 2, 40, 40)
    means = [float(v.float().mean()) for v in views]
    assert means[0] < means[1] < means[2]
    torch.testing.assert_close(views[0, 0, 0], torch.from_numpy(ramp[0, :, :40, 0]))
    centre = EvalClipTransform(crop_size=40, resize_size=40, normalize=False)(ramp)
    torch.testing.assert_close(centre[0], views[1])


def test_transforms_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="float32"):
        TrainClipTransform(crop_size=8)(np.zeros((2, 8, 8, 3), np.float32), None)
    with pytest.raises(ValueError, match="num_views"):
        EvalClipTransform(num_views=2)
    with pytest.raises(ValueError, match="300"):
        EvalClipTransform(crop_size=300, resize_size=256)
