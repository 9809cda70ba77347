"""Multi-block masks: sizes, no overlap, determinism per (seed, step), collation."""

import pytest
import torch

from vjepa.masks.collator import MaskCollator
from vjepa.masks.multiblock2d import MultiBlock2D
from vjepa.masks.multiblock3d import MultiBlock3D
from vjepa.seeding import derive_seed, generator_for


def ijepa_masks(step: int, batch: int = 6):
    gen = MultiBlock2D((14, 14), min_keep=10)
    return gen(batch, generator_for(0, step))


@pytest.mark.parametrize("step", range(5))
def test_2d_sizes_counts_and_no_overlap(step):
    enc, pred = ijepa_masks(step)
    assert len(enc) == 1 and len(pred) == 4
    assert all(m.shape[0] == 6 for m in enc + pred)
    assert len({m.shape[1] for m in pred}) == 1  # truncated to the shortest
    for b in range(6):
        targets = set(torch.cat([m[b] for m in pred]).tolist())
        assert not targets & set(enc[0][b].tolist())
        assert len(set(enc[0][b].tolist())) == enc[0].shape[1]  # no repeated indices
    # a target block covers 15-20% of 196 tokens (rounding of h, w can move it a little)
    assert 0.10 * 196 <= pred[0].shape[1] <= 0.25 * 196
    assert enc[0].shape[1] > 10


def test_2d_block_size_ranges():
    gen = MultiBlock2D((14, 14))
    for s in range(50):
        h, w = gen.block_size(generator_for(s), gen.pred_mask_scale, gen.aspect_ratio)
        assert 0.10 * 196 <= h * w <= 0.25 * 196 and 0.5 <= h / w <= 2.0
        he, we = gen.block_size(generator_for(s), gen.enc_mask_scale, (1.0, 1.0))
        assert he == we and he <= 13  # corners never touch the last row/column


def test_2d_determinism_per_seed_and_step():
    a, b, c = ijepa_masks(3), ijepa_masks(3), ijepa_masks(4)
    assert all(torch.equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1], strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a[1], c[1], strict=True))


def test_2d_impossible_min_keep_raises_at_construction():
    with pytest.raises(ValueError, match="min_keep=10"):
        MultiBlock2D((4, 4), pred_mask_scale=(0.1, 0.1), min_keep=10)


@pytest.mark.parametrize("bad", [dict(pred_mask_scale=(0.0, 0.2)), dict(enc_mask_scale=(0.9, 1.2)),
                                 dict(aspect_ratio=(2.0, 1.0)), dict(npred=0)])
def test_2d_bad_config_raises(bad):
    with pytest.raises(ValueError):
        MultiBlock2D((14, 14), **bad)


@pytest.mark.parametrize("num_blocks,scale", [(8, 0.15), (2, 0.7)])
def test_3d_union_of_blocks_and_complement(num_blocks, scale):
    gen = MultiBlock3D((8, 14, 14), num_blocks=num_blocks, spatial_scale=(scale, scale))
    t, h, w = gen.block_size(generator_for(1))
    assert t == 8 and abs(h * w - int(196 * scale)) <= max(h, w)  # full temporal extent
    g = generator_for(7)
    for _ in range(4):
        ctx, tgt = gen.sample_one(g, (t, h, w))
        assert not set(ctx.tolist()) & set(tgt.tolist())
        assert len(ctx) + len(tgt) == 8 * 14 * 14
        # full temporal extent: every spatial position is target in all frames or in none
        tmap = torch.zeros(8 * 14 * 14, dtype=torch.bool)
        tmap[tgt] = True
        tmap = tmap.view(8, 196)
        assert torch.equal(tmap.all(0), tmap.any(0))
        assert tmap[0].sum() <= num_blocks * h * w


def test_3d_batch_truncation_and_max_keep():
    gen = MultiBlock3D((4, 6, 6), num_blocks=2, spatial_scale=(0.3, 0.3), max_keep=20)
    enc, pred = gen(5, generator_for(3))
    assert enc[0].shape == (5, 20) and pred[0].shape[0] == 5


def test_3d_max_temporal_keep_limits_context():
    gen = MultiBlock3D((4, 6, 6), num_blocks=1, spatial_scale=(0.2, 0.2), max_temporal_keep=0.5)
    enc, pred = gen(3, generator_for(0))
    assert enc[0].max() < 2 * 36  # context only in the first two time steps
    assert pred[0].shape[1] >= 2 * 36


def test_3d_full_cover_raises_at_construction():
    with pytest.raises(ValueError, match=r"\(2, 2, 2\) .* whole 2x2x2 grid in 200 of 200"):
        MultiBlock3D((2, 2, 2), num_blocks=1, spatial_scale=(1.0, 1.0))


def test_3d_a_range_that_covers_the_grid_only_sometimes_raises_at_construction():
    """[0.9, 1.0] on 4x8x8 passed one draw and failed training at step 12 before."""
    with pytest.raises(ValueError, match="cover the whole 4x8x8 grid"):
        MultiBlock3D((4, 8, 8), num_blocks=4, spatial_scale=(0.9, 1.0))


def test_3d_many_blocks_that_cover_the_grid_together_raise_at_construction():
    """10 blocks of 3x4 on 1x4x4 cover it in most draws (found by the bad-config suite)."""
    with pytest.raises(ValueError, match=r"10 blocks of size \(1, \d, 4\)"):
        MultiBlock3D((1, 4, 4), num_blocks=10, spatial_scale=(0.45, 0.618),
                     temporal_scale=(0.07, 0.102), aspect_ratio=(0.685, 0.704))


def test_3d_empty_block_raises_at_construction():
    with pytest.raises(ValueError, match=r"empty block \(2, 0, 0\) on the 2x2x2 grid"):
        MultiBlock3D((2, 2, 2), spatial_scale=(0.1, 0.5))


def test_collator_groups_step_tagging_and_determinism():
    coll = MaskCollator([MultiBlock3D((2, 4, 4), 8, (0.15, 0.15)),
                         MultiBlock3D((2, 4, 4), 2, (0.7, 0.7))], seed=5)
    samples = [{"x": torch.full((2,), float(i)), "step": 11} for i in range(3)]
    batch, enc, pred = coll(samples)
    assert batch["x"].shape == (3, 2) and len(enc) == len(pred) == 2
    enc2, pred2 = coll.masks(11, 3)
    for a, b in zip(enc + pred, enc2 + pred2, strict=True):
        assert torch.equal(a[0], b[0])
    with pytest.raises(ValueError, match="step"):
        coll([{"x": torch.zeros(1), "step": 1}, {"x": torch.zeros(1), "step": 2}])
    with pytest.raises(ValueError, match="step"):
        coll([{"x": torch.zeros(1)}])


def test_derive_seed_depends_on_every_key():
    seeds = {derive_seed(0, s, g) for s in range(20) for g in range(3)}
    assert len(seeds) == 60 and derive_seed(1, 2) != derive_seed(2, 1)
    with pytest.raises(ValueError):
        derive_seed(-1)
