"""k-NN against brute force; low-shot and held-out subsets are deterministic; exact counts."""

from __future__ import annotations

import math

import pytest
import torch

from vjepa.eval.knn import knn_scores
from vjepa.eval.metrics import count
from vjepa.eval.subsets import holdout_split, lowshot_subset


def brute_force_knn(train, labels, q, classes, k, t):
    """Every query against every train sample, sorted in Python, votes added one by one."""
    out = torch.zeros(len(q), classes)
    for i, qi in enumerate(q):
        sims = [(float(torch.dot(qi, x) / (qi.norm() * x.norm())), int(c))
                for x, c in zip(train, labels, strict=True)]
        for s, c in sorted(sims, reverse=True)[:k]:
            out[i, c] += math.exp(s / t)
        out[i] /= out[i].sum()
    return out


@pytest.mark.parametrize("k", [1, 5, 20, 100])
def test_knn_matches_brute_force(k: int) -> None:
    gen = torch.Generator().manual_seed(0)
    train, q = torch.randn(40, 8, generator=gen), torch.randn(11, 8, generator=gen)
    labels = torch.randint(0, 4, (40,), generator=gen)
    got = knn_scores(train, labels, q, 4, k=k, temperature=0.07, chunk=3)
    torch.testing.assert_close(got, brute_force_knn(train, labels, q, 4, min(k, 40), 0.07),
                               atol=1e-5, rtol=1e-4)


def test_knn_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        knn_scores(torch.randn(5, 3), torch.zeros(5), torch.randn(2, 4), 2)


def test_lowshot_subset_is_deterministic_and_per_class() -> None:
    labels = torch.arange(100) % 7
    a = lowshot_subset(labels, per_class=3, seed=5)
    assert torch.equal(a, lowshot_subset(labels.clone(), per_class=3, seed=5))
    assert not torch.equal(a, lowshot_subset(labels, per_class=3, seed=6))
    assert torch.bincount(labels[a], minlength=7).tolist() == [3] * 7
    # a class's subset does not depend on the other classes present
    only = torch.nonzero(labels == 2).flatten()
    sub = lowshot_subset(labels[only], per_class=3, seed=5)
    assert only[sub].tolist() == [i for i in a.tolist() if labels[i] == 2]
    frac = lowshot_subset(labels, fraction=0.01, seed=0)
    assert torch.bincount(labels[frac]).tolist() == [1] * 7
    with pytest.raises(ValueError, match="exactly one"):
        lowshot_subset(labels, per_class=1, fraction=0.5)


def test_holdout_split_partitions_training_set() -> None:
    labels = torch.arange(50) % 5
    tr, ho = holdout_split(labels, 0.2, seed=1)
    assert sorted(tr.tolist() + ho.tolist()) == list(range(50))
    assert torch.bincount(labels[ho]).tolist() == [2] * 5
    tr2, ho2 = holdout_split(labels, 0.2, seed=1)
    assert torch.equal(ho, ho2) and torch.equal(tr, tr2)


def test_counts_are_exact_and_merge() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    labels = torch.tensor([0, 2, 2, 1])
    c = count(scores, labels)
    assert (c.num_evaluated, c.top1) == (4, 2)
    assert c.confusion.tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]
    merged = c.merge(count(scores[:1], labels[:1])).summary()
    assert merged["num_evaluated"] == 5 and merged["top1_correct"] == 3
    assert merged["per_class_accuracy"] == [1.0, 0.0, 0.5]
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        count(scores, torch.tensor([0, 1, 2, 3]))
