"""Clip index arithmetic: windows, random starts, multi-clip spread, short-video policies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa.data.decoders import DecodeError
from vjepa.data.sampling import resolve_frame_step, sample_clip_indices, window_indices


def reference_window(start: int, frames: int, clip_len: int) -> list[int]:
    """The official arithmetic, written with numpy as an independent reference."""
    spread = np.linspace(start, start + clip_len, num=frames)
    return np.clip(spread, start, start + clip_len - 1).astype(np.int64).tolist()


@pytest.mark.parametrize("frames,step,start", [(16, 4, 0), (16, 4, 37), (8, 2, 5), (3, 7, 1),
                                               (1, 1, 9)])
def test_window_matches_official_spread(frames: int, step: int, start: int) -> None:
    got = window_indices(start, frames, frames * step).tolist()
    assert got == reference_window(start, frames, frames * step)


def test_sixteen_frames_at_step_four() -> None:
    assert window_indices(0, 16, 64).tolist() == [0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46,
                                                  51, 55, 59, 63]


def test_random_start_stays_in_video_and_varies() -> None:
    starts = set()
    for seed in range(200):
        clips = sample_clip_indices(100, 8, 4, generator=torch.Generator().manual_seed(seed))
        assert clips.shape == (1, 8)
        start = int(clips[0, 0])
        assert clips[0].tolist() == reference_window(start, 8, 32)
        assert 0 <= start and int(clips.max()) < 100
        starts.add(start)
    assert min(starts) == 0 and max(starts) == 100 - 32 - 1  # end in [32, 100) as officially
    again = sample_clip_indices(100, 8, 4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(again, sample_clip_indices(100, 8, 4,
                                                  generator=torch.Generator().manual_seed(7)))


def test_eval_clips_start_at_each_segment() -> None:
    clips = sample_clip_indices(300, 8, 4, num_clips=3, random_start=False)
    assert [int(c[0]) for c in clips] == [0, 100, 200]
    for clip in clips:
        assert clip.tolist() == reference_window(int(clip[0]), 8, 32)


def test_training_multi_clip_draws_one_clip_per_segment() -> None:
    clips = sample_clip_indices(300, 8, 4, num_clips=3, random_start=True,
                                generator=torch.Generator().manual_seed(0))
    for k, clip in enumerate(clips):
        assert 100 * k <= int(clip[0]) and int(clip[-1]) < 100 * (k + 1)


def test_overlapping_clips_spread_uniformly_when_segments_are_short() -> None:
    clips = sample_clip_indices(100, 16, 4, num_clips=3, random_start=False)
    assert [int(c[0]) for c in clips] == [0, 18, 36]
    assert int(clips[-1, -1]) == 36 + 63


def test_short_video_policies() -> None:
    pad = sample_clip_indices(10, 8, 2, short_policy="pad")
    assert pad[0].tolist() == [min(i, 9) for i in reference_window(0, 8, 16)]
    loop = sample_clip_indices(10, 8, 2, num_clips=2, short_policy="loop")
    assert loop[1].tolist() == [i % 10 for i in reference_window(0, 8, 16)]
    with pytest.raises(DecodeError) as info:
        sample_clip_indices(10, 8, 2, short_policy="filter", path="short.mp4")
    assert info.value.reason == "too_short" and "short.mp4" in str(info.value)
    exact = sample_clip_indices(16, 8, 2, short_policy="filter")  # exactly one window
    assert exact.shape == (1, 8)


def test_sampling_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="drop"):
        sample_clip_indices(10, 8, 2, short_policy="drop")
    with pytest.raises(ValueError, match="0"):
        sample_clip_indices(0, 8, 2)
    with pytest.raises(ValueError, match="-1"):
        sample_clip_indices(10, 8, -1)


def test_frame_step_from_fps_or_duration() -> None:
    assert resolve_frame_step(16, 4, None, None, 30.0) == 4
    assert resolve_frame_step(16, None, 7.5, None, 30.0) == 4
    assert resolve_frame_step(16, None, None, 2.0, 30.0) == 3  # int(2 * 30 / 16)
    assert resolve_frame_step(16, None, 60.0, None, 30.0) == 1
    with pytest.raises(ValueError, match="exactly one"):
        resolve_frame_step(16, 4, 7.5, None, 30.0)
    with pytest.raises(ValueError, match="exactly one"):
        resolve_frame_step(16, None, None, None, 30.0)
    with pytest.raises(ValueError, match="-2"):
        resolve_frame_step(16, None, -2.0, None, 30.0)
