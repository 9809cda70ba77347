"""The step-indexed batch sampler: deterministic, sharded, covers the data set."""

from __future__ import annotations

import pytest

from vjepa.train.data import StepBatchSampler


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
