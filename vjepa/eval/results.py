"""The end of a run: pick the head on the held-out training part, count, write the report."""

from __future__ import annotations

from pathlib import Path

import torch

from vjepa import distributed
from vjepa.checkpoints.io import atomic_write
from vjepa.checkpoints.layouts import LAYOUTS
from vjepa.eval import cache
from vjepa.eval.engine import Context
from vjepa.eval.metrics import Counts
from vjepa.eval.report import plot_confusion, plot_curves, write_json
from vjepa.eval.sweep import ProbeSweep
from vjepa.train.logs import METRICS_CSV


def choose(held: list[Counts] | None) -> tuple[int, list[float] | None]:
    """The head with the best held-out top-1 (first on ties); 0 without a held-out part."""
    if not held or len(held) == 1:
        return 0, None
    top1 = [h.summary()["top1"] for h in held]
    return max(range(len(top1)), key=top1.__getitem__), top1


def _failures(split: cache.Split | None, extra: list) -> list[dict]:
    mine = list(split.failed) if split is not None else []
    everyone = sorted({tuple(f) for part in distributed.gather_objects(mine + list(extra))
                       for f in part})
    return [{"index": i, "path": p, "reason": r} for i, p, r in everyone]


def _test_report(ctx: Context, counts: Counts, failed: list[dict]) -> dict:
    listed = ctx.split_info["test_listed"]
    if counts.num_evaluated + len(failed) != listed:
        raise RuntimeError(f"test accounting broken: {counts.num_evaluated} evaluated + "
                           f"{len(failed)} failed != {listed} listed")
    return {"listed": listed, "evaluated": counts.num_evaluated, "failed": len(failed),
            "failed_files": failed}


def _save_probe(ctx: Context, sweep: ProbeSweep, head: int) -> Path:
    """The chosen head in the official probe layout ({"classifier": module.-prefixed})."""
    path = ctx.run_dir / "probe" / "chosen.pt"
    ckpt = LAYOUTS["probe"].write({"classifier": sweep.heads[head].state_dict()},
                                  epoch=ctx.cfg.optim.epochs, head=sweep.labels()[head],
                                  order=sweep.spec.order, kind=sweep.spec.kind)
    with atomic_write(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def finish(ctx: Context, sweep: ProbeSweep | None, held: list[Counts] | None,
           test: list[Counts], test_split: cache.Split, train_split: cache.Split | None,
           train_failed: list) -> dict:
    chosen, held_top1 = choose(held)
    labels = sweep.labels() if sweep is not None else ["knn"]
    c, chosen_counts = ctx.cfg, test[chosen]
    results = {
        "experiment": c.experiment, "run_dir": str(ctx.run_dir),
        "checkpoint": str(c.checkpoint), "protocol": c.probe.protocol,
        "encoder": ctx.pre.arch.to_dict(), "num_classes": ctx.num_classes,
        "test_positions": c.data.test_positions, "world_size": ctx.env.world_size,
        "chosen_head": labels[chosen],
        "chosen_by": ("held-out part of the TRAINING set (top-1)" if held_top1 is not None
                      else "single head"),
        "test": chosen_counts.summary(),
        "all_heads_test_not_used_for_selection": {
            n: {"top1": t.summary()["top1"], "top5": t.summary()["top5"]}
            for n, t in zip(labels, test, strict=True)},
        "holdout_top1": dict(zip(labels, held_top1, strict=True)) if held_top1 else None,
        "videos": {"test": _test_report(ctx, chosen_counts, _failures(test_split, [])),
                   "train_failed": _failures(train_split, train_failed)},
        "splits": ctx.split_info,
    }
    if ctx.env.is_main:
        write_json(ctx.run_dir / "results.json", results)
        plot_confusion(chosen_counts.confusion, ctx.run_dir / "plots" / "confusion.png",
                       f"{c.experiment} {labels[chosen]}: top-1 {results['test']['top1']:.1f}%")
        plot_curves(ctx.run_dir / METRICS_CSV, ctx.run_dir / "plots" / "curves.png")
        if sweep is not None:
            results["probe_file"] = str(_save_probe(ctx, sweep, chosen))
    return results
