"""The published eval recipes carry the official values; bad values fail with the key named."""

from __future__ import annotations

import pytest

from vjepa.eval.main import compose, finalize

DATA = ["checkpoint=x.pth.tar", "data.train=/t.csv", "data.val=/v.csv"]


def test_k400_recipe_is_the_official_one() -> None:
    c = finalize(compose(["experiment=k400_16x8x3", *DATA]))
    d, o = c.data, c.optim
    assert (d.num_classes, d.frames_per_clip, d.frame_step, d.num_segments, d.num_views) == (
        400, 16, 4, 8, 3)
    assert (d.resolution, d.batch_size, c.probe.depth, c.probe.attend_across_segments) == (
        224, 4, 1, True)
    assert (o.epochs, o.lrs, o.wds, o.final_lr, o.final_weight_decay, o.clip_grad) == (
        20, [1e-3], [0.01], 0.0, 1e-6, 1.0)
    assert c.slurm.nodes * c.slurm.tasks_per_node * d.batch_size == 256
    assert d.test_positions == "centre" and c.probe.order == "vjepa"


def test_ssv2_and_vjepa2_recipes() -> None:
    s = finalize(compose(["experiment=ssv2_16x2x3", *DATA]))
    assert (s.data.num_classes, s.data.num_segments, s.data.num_views) == (174, 2, 3)
    v = finalize(compose(["experiment=k400_16x8x3_vjepa2", *DATA]))
    assert (v.probe.order, v.probe.depth, v.data.resolution) == ("vjepa2", 4, 256)
    assert len(v.optim.lrs) * len(v.optim.wds) == 20 and v.optim.final_weight_decay is None


def test_published_recipe_needs_its_data() -> None:
    with pytest.raises(Exception, match="data.train"):
        finalize(compose(["experiment=k400_16x8x3", "checkpoint=x"]))


@pytest.mark.parametrize("override, key", [("data.num_views=2", "data.num_views"),
                                           ("probe.order=vjepa3", "probe.order"),
                                           ("data.test_positions=random", "test_positions")])
def test_bad_values_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        finalize(compose(["experiment=video_tiny", "checkpoint=x", override]))
