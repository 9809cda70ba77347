"""Probes on in-memory features: the small API used by tests, notebooks and in-training checks.

    from vjepa.eval import fit
    result = fit.probe(train_x, train_y, test_x, test_y, num_classes=10,
                       spec=fit.ProbeSpec("attentive", order="vjepa2", depth=4, num_heads=4),
                       heads=fit.grid([1e-3, 3e-4], [0.01, 0.1]), epochs=20, batch_size=32)
    result.chosen_test["top1"], result.per_head_test

Features are `[B, *item]` or `[B, V, *item]` (views, see vjepa/eval/probes.py): tokens [N, D]
for the attentive probe, pooled [D] for the linear probe (`pool_tokens`). With more than one
head, `holdout` of the training set (stratified, deterministic) is kept out of training and
the head with the best held-out top-1 is chosen; the test set never picks the head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from vjepa.eval.knn import knn_scores
from vjepa.eval.metrics import count
from vjepa.eval.probes import ProbeSpec, feature_dim
from vjepa.eval.subsets import holdout_split
from vjepa.eval.sweep import HeadConfig, ProbeSweep, grid

__all__ = ["HeadConfig", "ProbeResult", "ProbeSpec", "batch_order", "fit_sweep", "grid", "knn",
           "linear", "pool_tokens", "predict", "probe"]


def pool_tokens(x: torch.Tensor) -> torch.Tensor:
    """Average over the token axis: [..., N, D] -> [..., D] (I-JEPA's linear-probe input)."""
    return x.mean(dim=-2)


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """The epoch's shuffled mini-batches of range(n), a function of (seed, epoch) only."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return list(torch.randperm(n, generator=gen).split(batch_size))


def fit_sweep(x: torch.Tensor, y: torch.Tensor, num_classes: int, spec: ProbeSpec,
              heads: Sequence[HeadConfig], epochs: int, batch_size: int, seed: int = 0,
              on_epoch: Callable[[int, list[float]], None] | None = None,
              **sweep_options: object) -> ProbeSweep:
    """Train every head on (x, y) for `epochs`; `on_epoch(epoch, mean losses)` after each."""
    if len(x) != len(y) or not len(x):
        raise ValueError(f"need as many labels as samples (> 0), got {len(y)} for {len(x)}")
    steps = epochs * -(-len(x) // batch_size)
    sweep = ProbeSweep(spec, feature_dim(x), num_classes, heads, steps, init_seed=seed,
                       **sweep_options).to(x.device)
    for epoch in range(epochs):
        totals = torch.zeros(len(heads))
        for idx in batch_order(len(x), batch_size, seed, epoch):
            totals += torch.tensor(sweep.train_step(x[idx], y[idx]))
        if on_epoch is not None:
            on_epoch(epoch, (totals / -(-len(x) // batch_size)).tolist())
    return sweep


def predict(sweep: ProbeSweep, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """[H, B, C] probabilities of every head, in batches."""
    return torch.cat([sweep.predict(x[i : i + batch_size])
                      for i in range(0, len(x), batch_size)], dim=1)


@dataclass
class ProbeResult:
    """A trained sweep and its scores. `chosen` was picked on the held-out training part."""

    sweep: ProbeSweep
    chosen: int
    holdout_top1: list[float] | None
    per_head_test: list[dict] = field(default_factory=list)

    @property
    def chosen_test(self) -> dict:
        return self.per_head_test[self.chosen]


def _split(x: torch.Tensor, y: torch.Tensor, holdout: float, multi: bool, seed: int):
    if not multi:
        return x, y, None, None
    tr, ho = holdout_split(y, holdout, seed)
    return x[tr], y[tr], x[ho], y[ho]


def probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
          test_y: torch.Tensor, num_classes: int, spec: ProbeSpec | None = None,
          heads: Sequence[HeadConfig] = (HeadConfig(),), epochs: int = 20,
          batch_size: int = 32, holdout: float = 0.1, seed: int = 0,
          **sweep_options: object) -> ProbeResult:
    """Train a probe sweep, pick the head on a held-out part of training, score the test set."""
    spec = spec or ProbeSpec()
    x, y, hx, hy = _split(train_x, train_y, holdout, len(heads) > 1, seed)
    sweep = fit_sweep(x, y, num_classes, spec, heads, epochs, batch_size, seed, **sweep_options)
    held = None
    chosen = 0
    if hx is not None:
        held = [count(p, hy).summary()["top1"] for p in predict(sweep, hx)]
        chosen = max(range(len(held)), key=held.__getitem__)
    tests = [count(p, test_y).summary() for p in predict(sweep, test_x)]
    return ProbeResult(sweep, chosen, held, tests)


def linear(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
           test_y: torch.Tensor, num_classes: int, **options: object) -> ProbeResult:
    """`probe` with a linear head on pooled features [B, D] (pool tokens first)."""
    return probe(train_x, train_y, test_x, test_y, num_classes, ProbeSpec("linear"), **options)


def knn(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
        test_y: torch.Tensor, num_classes: int, k: int = 20,
        temperature: float = 0.07) -> dict:
    """k-NN metrics summary (vjepa/eval/knn.py) of pooled features [B, D]."""
    scores = knn_scores(train_x, train_y, test_x, num_classes, k, temperature)
    return count(scores, test_y).summary()
