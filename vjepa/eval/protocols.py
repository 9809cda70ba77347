"""The protocols on top of the engine: a probe sweep (attentive / linear) and k-NN."""

from __future__ import annotations

from pathlib import Path

import torch

from vjepa import distributed
from vjepa.checkpoints.io import atomic_write
from vjepa.eval import cache
from vjepa.eval.engine import Context, feature_batches, fixed_split, score
from vjepa.eval.fit import batch_order
from vjepa.eval.knn import knn_scores
from vjepa.eval.metrics import Counts
from vjepa.eval.probes import ProbeSpec
from vjepa.eval.results import finish
from vjepa.eval.sweep import HeadConfig, ProbeSweep
from vjepa.train.logs import MetricsWriter


def average_gradients(module: torch.nn.Module) -> None:
    for p in module.parameters():
        if p.grad is not None:
            distributed.all_reduce_mean(p.grad)


def build_sweep(ctx: Context, dim: int, steps_per_epoch: int) -> ProbeSweep:
    c, o, p = ctx.cfg, ctx.cfg.optim, ctx.cfg.probe
    heads = [HeadConfig(lr=lr, weight_decay=wd, final_lr=o.final_lr,
                        final_weight_decay=wd if o.final_weight_decay is None
                        else o.final_weight_decay,
                        warmup_steps=int(o.warmup_epochs * steps_per_epoch))
             for wd in o.wds for lr in o.lrs]
    spec = ProbeSpec(p.protocol, p.order, p.depth, p.num_heads or ctx.pre.model.num_heads,
                     p.apply_proj)
    sync = average_gradients if distributed.active() else None
    return ProbeSweep(spec, dim, ctx.num_classes, heads, o.epochs * steps_per_epoch,
                      init_seed=c.seed, clip_grad=o.clip_grad, exclude_bias_wd=o.exclude_bias_wd,
                      bf16=o.bf16, grad_sync=sync).to(ctx.device)


def _batches(ctx: Context, n_local: int, n_max: int, epoch: int) -> list[torch.Tensor]:
    """The epoch's batches of positions 0..n_local-1, padded with empty batches to the count
    of the largest rank (every rank takes the same number of optimiser steps)."""
    bs = ctx.cfg.data.batch_size
    out = batch_order(n_local, bs, ctx.cfg.seed, epoch) if n_local else []
    return out + [torch.zeros(0, dtype=torch.long)] * (-(-n_max // bs) - len(out))


def _train_epoch(ctx: Context, sweep: ProbeSweep, epoch: int, split: cache.Split | None,
                 n_max: int) -> tuple[list[float], list]:
    """Mean loss per head over the epoch, failed training files met."""
    totals, steps, failed = torch.zeros(len(sweep.heads)), 0, []
    if split is not None:  # fixed views, from memory / the cache
        for pos in _batches(ctx, len(split.labels), n_max, epoch):
            x = split.features[pos].to(ctx.device)
            totals += torch.tensor(sweep.train_step(x, split.labels[pos].to(ctx.device)))
            steps += 1
        return (totals / max(steps, 1)).tolist(), failed
    ctx.train.dataset.set_epoch(epoch)
    order = [ctx.train_idx[b] for b in _batches(ctx, len(ctx.train_idx), n_max, epoch)]
    for feats, labels, _, bad in feature_batches(ctx, ctx.train, order, f"train {epoch + 1}"):
        failed += bad
        empty = (0, 1, *[1] * (sweep.spec.item_dims - 1), _feature_dim(ctx))
        x = feats if feats is not None else torch.zeros(empty)
        totals += torch.tensor(sweep.train_step(x.to(ctx.device), labels.to(ctx.device)))
        steps += 1
    return (totals / max(steps, 1)).tolist(), failed


def _predict(sweep: ProbeSweep, split: cache.Split, device: torch.device) -> torch.Tensor:
    parts = [sweep.predict(split.features[i : i + 64].to(device)).cpu()
             for i in range(0, len(split.labels), 64)]
    if not parts:
        return torch.zeros(len(sweep.heads), 0, sweep.num_classes)
    return torch.cat(parts, dim=1)


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def _resume(ctx: Context, sweep: ProbeSweep) -> int:
    path = ctx.run_dir / "probe" / "latest.pt"
    if not path.is_file():
        return 0
    state = torch.load(path, map_location=ctx.device, weights_only=False)
    sweep.restore(state["sweep"])
    return int(state["epoch"])


def _fixed(ctx: Context) -> tuple[cache.Split | None, cache.Split | None, cache.Split | None]:
    """(train, holdout, test) features encoded once (cache on), or None: encode when needed
    (off: the official way, the frozen forward every epoch)."""
    if not ctx.cfg.cache_features:
        return None, None, None
    train = None if ctx.streams_train else fixed_split(ctx, "train", ctx.train, ctx.train_idx)
    return (train, fixed_split(ctx, "holdout", ctx.holdout, ctx.holdout_idx),
            fixed_split(ctx, "test", ctx.test, ctx.test_idx))


def _scores(ctx: Context, sweep: ProbeSweep, held: cache.Split | None,
            test: cache.Split | None) -> tuple[list[Counts], list[Counts], cache.Split]:
    held = held or fixed_split(ctx, "holdout", ctx.holdout, ctx.holdout_idx)
    test = test or fixed_split(ctx, "test", ctx.test, ctx.test_idx)
    return (score(ctx, _predict(sweep, held, ctx.device), held.labels),
            score(ctx, _predict(sweep, test, ctx.device), test.labels), test)


def run_probe(ctx: Context) -> dict:
    train, held, test = _fixed(ctx)
    n_local = len(ctx.train_idx) if train is None else len(train.labels)
    n_max = max(distributed.gather_objects(n_local))
    sweep = build_sweep(ctx, _feature_dim(ctx), -(-n_max // ctx.cfg.data.batch_size))
    start = _resume(ctx, sweep)
    writer = MetricsWriter(ctx.run_dir, start, tensorboard=True) if ctx.env.is_main else None
    train_failed: set = set()
    try:
        for epoch in range(start, ctx.cfg.optim.epochs):
            losses, bad = _train_epoch(ctx, sweep, epoch, train, n_max)
            train_failed.update(bad)
            held_c, test_c, _ = _scores(ctx, sweep, held, test)
            if writer is not None:
                writer.write(_row(epoch, sweep.labels(), losses, held_c, test_c))
                _save(ctx.run_dir / "probe" / "latest.pt",
                      {"epoch": epoch + 1, "sweep": sweep.checkpoint()})
            distributed.barrier()
    finally:
        if writer is not None:
            writer.close()
    held_c, test_c, test = _scores(ctx, sweep, held, test)
    return finish(ctx, sweep, held_c, test_c, test, train, sorted(train_failed))


def _feature_dim(ctx: Context) -> int:
    """The probe's input width: D, or L * D for pooled multi-layer features."""
    p, d = ctx.cfg.probe, ctx.pre.model.embed_dim
    return d * len(p.layers) if p.protocol != "attentive" and p.layers else d


def _row(epoch: int, labels: list[str], losses: list[float], held: list[Counts],
         test: list[Counts]) -> dict:
    row: dict = {"step": epoch + 1}
    for name, loss, h, t in zip(labels, losses, held, test, strict=True):
        row[f"train_loss/{name}"] = loss
        row[f"holdout_top1/{name}"] = h.summary()["top1"] if h.num_evaluated else float("nan")
        row[f"test_top1/{name}"] = t.summary()["top1"]
    return row


def run_knn(ctx: Context) -> dict:
    """k-NN of each test view among the training features (views averaged), votes averaged
    over the test views."""
    test = fixed_split(ctx, "test", ctx.test, ctx.test_idx)
    train = fixed_split(ctx, "train", ctx.train, ctx.train_idx)
    parts = distributed.gather_objects((train.features, train.labels))
    bank = torch.cat([f.mean(1) for f, _ in parts if len(f)]).to(ctx.device)
    labels = torch.cat([y for _, y in parts]).to(ctx.device)
    p = ctx.cfg.probe
    scores = torch.zeros(len(test.labels), ctx.num_classes)
    for v in range(test.features.shape[1] if len(test.labels) else 0):
        scores += knn_scores(bank, labels, test.features[:, v].to(ctx.device), ctx.num_classes,
                             p.knn_k, p.knn_temperature).cpu() / test.features.shape[1]
    counts = score(ctx, scores[None], test.labels)
    return finish(ctx, None, None, counts, test, train, sorted(set(train.failed)))
