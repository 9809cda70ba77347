"""The step-indexed batch sampler (deterministic, sharded, covers the data set); clip length
by frame step, frame rate or duration."""

from __future__ import annotations

import pytest
import torch
from data_fixtures import make_video

from vjepa.train.data import StepBatchSampler, build_train_dataset
from vjepa.train.hydra_config import compose, finalize


def test_batches_are_functions_of_the_step():
    a = StepBatchSampler(50, 4, seed=7)
    b = StepBatchSampler(50, 4, seed=7)
    b.batch(30)  # another history
    assert [a.batch(s) for s in (3, 12, 29)] == [b.batch(s) for s in (3, 12, 29)]
    assert all(step == 12 for _, step in a.batch(12))
    assert StepBatchSampler(50, 4, seed=8).batch(0) != a.batch(0)


def test_ranks_get_disjoint_shards_of_one_permutation():
    n, bs, world = 24, 3, 2
    ranks = [StepBatchSampler(n, bs, seed=1, rank=r, world_size=world) for r in range(world)]
    seen = [i for step in range(n // (bs * world)) for s in ranks for i, _ in s.batch(step)]
    assert sorted(seen) == list(range(n))  # one pass = every sample exactly once
    nxt = [i for step in range(4, 8) for s in ranks for i, _ in s.batch(step)]
    assert sorted(nxt) == list(range(n)) and nxt != seen  # next pass: a new permutation


def test_range_iteration_and_weights():
    s = StepBatchSampler(10, 2, seed=0)
    s.set_range(5, 8)
    assert len(s) == 3 and [b[0][1] for b in s] == [5, 6, 7]
    w = StepBatchSampler(4, 64, seed=0, weights=[0.0, 1.0, 0.0, 1.0])
    assert {i for i, _ in w.batch(0)} == {1, 3}
    with pytest.raises(ValueError, match="rank 2"):
        StepBatchSampler(10, 2, seed=0, rank=2, world_size=2)


@pytest.mark.parametrize(("setting", "span"), [("data.fps=5", 20), ("data.duration=1.6", 40),
                                               ("data.frame_step=3", 12)])
def test_clips_by_frame_rate_or_duration(tmp_path, setting, span):
    video = make_video(tmp_path / "v.mp4", num_frames=100, height=32, width=32, fps=25)
    (tmp_path / "i.csv").write_text(f"{video} 0\n")
    cfg = finalize(compose([setting, f"data.sources=[{tmp_path / 'i.csv'}]",
                            "model.num_frames=4", "model.crop_size=32"]))
    dataset = build_train_dataset(cfg, list(cfg.data.sources))
    _, indices = dataset._load(str(video), torch.Generator().manual_seed(0))
    # 4 frames over a window of 4 x step frames: 25 fps / 5 fps = step 5; 1.6 s x 25 / 4 = 10
    assert int(indices[0, -1] - indices[0, 0]) == span - 1


def test_fps_and_duration_exclude_each_other():
    with pytest.raises(ValueError, match="data.duration=2.0: set data.fps=5.0 or data.duration"):
        finalize(compose(["data.fps=5", "data.duration=2"]))
    with pytest.raises(ValueError, match="data.fps=5.0: is for video data"):
        finalize(compose(["experiment=ijepa_tiny", "data.fps=5"]))


def test_checkpoint_trained_by_frame_rate_says_its_step_is_not_one_number():
    from vjepa.pretrained import _train_frame_step

    config = {"model": {"size": "large"}, "data": {"frame_step": 4, "fps": 5.0}}
    with pytest.warns(UserWarning, match="data.fps=5.0 .*frame_step is 4 unless"):
        assert _train_frame_step({"config": config}) is None
    config["data"]["fps"] = None
    assert _train_frame_step({"config": config}) == 4
