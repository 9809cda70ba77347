"""`vjepa eval` engine: clip positions, view layout, feature cache, failed videos counted,
resume, and the whole run on tiny synthetic videos."""

from __future__ import annotations

import json

import pytest
import torch
from eval_helpers import tiny_overrides, tiny_video_encoder, tiny_video_sets

from vjepa.data.sampling import window_indices
from vjepa.data.transforms import EvalClipTransform
from vjepa.eval import cache
from vjepa.eval.clips import MultiClipVideos, centre_clip_indices
from vjepa.eval.encode import arrange


def test_centre_positions_are_segment_centres() -> None:
    got = centre_clip_indices(100, frames_per_clip=4, step=2, num_segments=2)
    want = torch.stack([window_indices(21, 4, 8), window_indices(71, 4, 8)])  # parts of 50
    assert torch.equal(got, want)


def test_test_positions_deterministic_unless_official_random(tmp_path) -> None:
    train, _ = tiny_video_sets(tmp_path)
    kw = dict(frames_per_clip=2, frame_step=2, num_clips=2, random_start=False, max_retries=0)
    tf = EvalClipTransform(16, num_views=1)
    centre = MultiClipVideos([str(train)], tf, positions="centre", **kw)
    rand = [MultiClipVideos([str(train)], tf, positions="official_random", seed=s, **kw)
            for s in (0, 1)]
    for epoch in (0, 3):
        centre.set_epoch(epoch)
        assert centre[0]["clip_indices"].tolist() == [[2, 5], [10, 13]]  # parts of 8, clips of 4
    starts = {tuple(r[i]["clip_indices"][:, 0].tolist()) for r in rand for i in range(4)}
    assert len(starts) > 1  # the official option really is random


def _slow_arrange(tokens, b, s, v, protocol, across):
    """Loops: clip (i, seg, view) is row (i * s + seg) * v + view of the encoder batch."""
    out = []
    for i in range(b):
        rows = {(seg, view): tokens[(i * s + seg) * v + view] for seg in range(s)
                for view in range(v)}
        if protocol == "attentive" and across:
            out.append(torch.stack([torch.cat([rows[seg, view] for seg in range(s)])
                                    for view in range(v)]))
        elif protocol == "attentive":
            out.append(torch.stack([rows[seg, view] for seg in range(s) for view in range(v)]))
        elif across:
            out.append(torch.stack([torch.stack([rows[seg, view].mean(0).flatten()
                                                 for seg in range(s)]).mean(0)
                                    for view in range(v)]))
        else:
            out.append(torch.stack([rows[seg, view].mean(0).flatten() for seg in range(s)
                                    for view in range(v)]))
    return torch.stack(out)


@pytest.mark.parametrize("protocol", ["attentive", "linear"])
@pytest.mark.parametrize("across", [True, False])
def test_segment_view_layout_matches_slow_reference(protocol: str, across: bool) -> None:
    b, s, v, n, d = 2, 3, 3, 5, 4
    tokens = torch.randn(b * s * v, n, d)
    got = arrange(tokens, s, v, protocol, across)
    torch.testing.assert_close(got, _slow_arrange(tokens, b, s, v, protocol, across))
    if protocol == "linear":  # last-4-layers concatenation: [M, L, N, D] -> L * D features
        layered = torch.randn(b * s * v, 4, n, d)
        want = _slow_arrange(layered.transpose(1, 2), b, s, v, protocol, across)
        torch.testing.assert_close(arrange(layered, s, v, protocol, across), want)


def test_feature_cache_round_trip_and_staleness(tmp_path) -> None:
    batches = [(torch.randn(3, 2, 4), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), []),
               (None, torch.zeros(0), torch.zeros(0), [(3, "bad.mp4", "truncated")]),
               (torch.randn(1, 2, 4), torch.tensor([1]), torch.tensor([4]), [])]
    key = {"checkpoint": "a", "split": "test"}
    built = cache.build(tmp_path, key, 0, batches)
    back = cache.load(tmp_path, key, 0)
    assert back is not None and torch.equal(back.features, built.features)
    assert torch.equal(back.index, torch.tensor([0, 1, 2, 4])) and back.failed == built.failed
    assert back.failed == [(3, "bad.mp4", "truncated")]
    assert cache.load(tmp_path, {**key, "checkpoint": "b"}, 0) is None  # stale key
    (tmp_path / "r0.json").unlink()
    assert cache.load(tmp_path, key, 0) is None  # interrupted: never read


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from vjepa.eval.main import compose, run

    root = tmp_path_factory.mktemp("eval")
    broken = root / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    train, test = tiny_video_sets(root / "data", broken=broken)
    ckpt = tiny_video_encoder(root / "enc.pth.tar")
    overrides = tiny_overrides(ckpt, train, test, root / "run")
    return run(compose(overrides)), overrides, root


def test_failed_test_videos_are_counted_and_listed(tiny_run) -> None:
    results, _, root = tiny_run
    videos = results["videos"]["test"]
    assert (videos["listed"], videos["evaluated"], videos["failed"]) == (9, 8, 1)
    assert videos["failed_files"][0]["path"].endswith("broken.mp4")
    assert results["test"]["num_evaluated"] == 8
    on_disk = json.loads((root / "run" / "results.json").read_text())
    assert on_disk["videos"]["test"]["failed"] == 1


def test_head_chosen_on_training_holdout_and_all_heads_reported(tiny_run) -> None:
    results, _, root = tiny_run
    held = results["holdout_top1"]
    assert set(held) == set(results["all_heads_test_not_used_for_selection"])
    assert results["chosen_head"] == max(held, key=held.get)
    assert results["splits"]["holdout"]["size"] == 4  # 1 of 4 per class
    for name in ("metrics.csv", "plots/curves.png", "plots/confusion.png", "probe/chosen.pt"):
        assert (root / "run" / name).is_file(), name


def test_rerun_resumes_from_the_last_epoch_and_cache(tiny_run) -> None:
    from vjepa.eval.main import compose, run

    results, overrides, root = tiny_run
    shard = next((root / "run" / "features" / "test").glob("r0-*.safetensors"))
    mtime = shard.stat().st_mtime_ns
    again = run(compose(overrides))
    assert shard.stat().st_mtime_ns == mtime  # features read from the cache
    assert again["test"] == results["test"]
    assert len((root / "run" / "metrics.csv").read_text().splitlines()) == 1 + 2  # 2 epochs


def test_probe_training_augmentation_is_reproducible_per_sample() -> None:
    import numpy as np

    from vjepa.data.datasets import sample_generator
    from vjepa.eval.augment import ProbeTrainTransform

    frames = np.random.default_rng(0).integers(0, 255, (4, 24, 32, 3), dtype=np.uint8)
    tf = ProbeTrainTransform(16)
    a = tf(frames, sample_generator(0, 1, 5))
    assert a.shape == (1, 3, 4, 16, 16) and a.dtype == torch.float32
    assert torch.equal(a, tf(frames, sample_generator(0, 1, 5)))
    assert not torch.equal(a, tf(frames, sample_generator(0, 2, 5)))


def test_augmented_streamed_training_runs(tmp_path) -> None:
    """The official way (augmented clips through the frozen encoder every epoch, no cache)."""
    from vjepa.eval.main import compose, run

    train, test = tiny_video_sets(tmp_path / "data")
    ckpt = tiny_video_encoder(tmp_path / "enc.pth.tar")
    overrides = tiny_overrides(ckpt, train, test, tmp_path / "run") + [
        "data.augment=true", "cache_features=false", "optim.epochs=1", "optim.lrs=[1e-3]"]
    results = run(compose(overrides))
    assert results["videos"]["test"]["evaluated"] == 8 and results["chosen_by"] == "single head"
    assert not (tmp_path / "run" / "features").exists()
