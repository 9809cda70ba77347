"""`run(cfg)`: one frozen evaluation in this process / rank (what `vjepa eval` runs).

Steps: load the frozen encoder; build the train / test splits (rank parts, optional low-shot
subset, a stratified held-out part of train to pick the head); encode the fixed-view splits
once (feature cache, vjepa/eval/cache.py) or stream them; train every head of the sweep per
epoch (resumable: <run>/probe/latest.pt), score held-out and test each epoch, write curves;
finally choose the head on the held-out part and write results.json and the plots.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from vjepa import distributed
from vjepa.eval import cache
from vjepa.eval import data as edata
from vjepa.eval.encode import arrange, encode
from vjepa.eval.metrics import Counts, count
from vjepa.eval.subsets import holdout_split, lowshot_subset
from vjepa.pretrained import Pretrained, load_pretrained

log = logging.getLogger("vjepa.eval")


@dataclass
class Context:
    """What every step of a run needs."""

    cfg: Any
    env: distributed.DistEnv
    device: torch.device
    run_dir: Path
    pre: Pretrained
    num_classes: int
    train: edata.Tolerant
    test: edata.Tolerant
    holdout: edata.Tolerant  # the train source with the test views (picks the head)
    train_idx: torch.Tensor  # this rank's part of the probe-training indices
    holdout_idx: torch.Tensor  # this rank's part of the held-out training indices
    test_idx: torch.Tensor  # this rank's part of the test set
    split_info: dict

    @property
    def streams_train(self) -> bool:
        return _streams_train(self.cfg)


def _streams_train(cfg: Any) -> bool:
    """Augmented attentive training re-encodes every epoch; everything else has fixed views."""
    return cfg.probe.protocol == "attentive" and cfg.data.augment


def _write_subset(path: Path, dataset: edata.Tolerant, idx: torch.Tensor) -> None:
    samples = dataset.dataset.samples
    path.write_text("".join(f"{i} {samples[i].path} {samples[i].label}\n" for i in idx.tolist()))


def _indices(cfg: Any, train: edata.Tolerant, run_dir: Path, rank: int
             ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Probe-training and held-out indices of the train split (+ what was done, for results).
    A low-shot subset is written as `index path label` lines to <run>/lowshot_subset.txt."""
    d, o = cfg.data, cfg.optim
    labels = edata.labels_of(train)
    idx = torch.arange(len(labels))
    info: dict = {"train_listed": len(idx)}
    if d.lowshot_per_class is not None or d.lowshot_fraction is not None:
        idx = lowshot_subset(labels, d.lowshot_per_class, d.lowshot_fraction, cfg.seed)
        info["lowshot"] = {"per_class": d.lowshot_per_class, "fraction": d.lowshot_fraction,
                           "seed": cfg.seed, "size": len(idx), "file": "lowshot_subset.txt"}
        if rank == 0:
            _write_subset(run_dir / "lowshot_subset.txt", train, idx)
    held = torch.zeros(0, dtype=torch.long)
    if len(o.lrs) * len(o.wds) > 1:
        tr, ho = holdout_split(labels[idx], o.holdout, cfg.seed)
        idx, held = idx[tr], idx[ho]
        info["holdout"] = {"fraction": o.holdout, "seed": cfg.seed, "size": len(held)}
    return idx, held, info


def setup(cfg: Any, env: distributed.DistEnv, device: torch.device, run_dir: Path) -> Context:
    pre = load_pretrained(cfg.checkpoint, cfg.which, num_heads=cfg.encoder_heads,
                          trust_pickle=cfg.trust_pickle, device=device)
    pre.model.eval().requires_grad_(False)
    d = cfg.data
    sources = distributed.broadcast_object(
        [edata.split_source(d, s) for s in ("train", "val")] if env.is_main else None)
    train = edata.build_split(d, sources[0], pre.preprocess, True, _streams_train(cfg), cfg.seed)
    test = edata.build_split(d, sources[1], pre.preprocess, False, False, cfg.seed)
    holdout = edata.build_split(d, sources[0], pre.preprocess, False, False, cfg.seed)
    train_labels, test_labels = edata.labels_of(train), edata.labels_of(test)
    num_classes = d.num_classes or 1 + int(max(train_labels.max(), test_labels.max()))
    idx, held, info = _indices(cfg, train, run_dir, env.rank)
    info.update(train_source=sources[0], test_source=sources[1], test_listed=len(test_labels))
    part = lambda t: edata.rank_part(t, env.rank, env.world_size)  # noqa: E731
    return Context(cfg, env, device, run_dir, pre, num_classes, train, test, holdout, part(idx),
                   part(held), part(torch.arange(len(test_labels))), info)


def feature_batches(ctx: Context, dataset: edata.Tolerant, batches: list[torch.Tensor],
                    desc: str) -> Iterator[cache.Batch]:
    """Decode (in loader workers, overlapping the encoder) and encode; failures passed on."""
    d, p = ctx.cfg.data, ctx.cfg.probe
    layers = p.layers if p.protocol != "attentive" else None
    views = 1 if dataset is ctx.train else d.num_views  # holdout and test: the test views
    segments = d.num_segments if d.kind == "video" else 1
    bar = tqdm(edata.loader(dataset, batches, d.num_workers), desc=desc, unit="batch",
               disable=not (ctx.cfg.progress and ctx.env.is_main), leave=False)
    for batch in bar:
        if batch["video"] is None:
            yield None, batch["label"], batch["index"], batch["failed"]
            continue
        clips = batch["video"].flatten(0, 1)  # [B * S * V, C, T, H, W]
        tokens = encode(ctx.pre.model, clips, layers, ctx.cfg.optim.bf16)
        feats = arrange(tokens, segments, views, p.protocol, p.attend_across_segments)
        if feats.is_inference():  # inference-mode tensors cannot enter the probe's autograd
            feats = feats.clone()
        yield feats, batch["label"], batch["index"], batch["failed"]


def _cache_key(ctx: Context, name: str) -> dict:
    """What a split's features depend on (a cache made under another key is rebuilt)."""
    from omegaconf import OmegaConf

    c = ctx.cfg
    ckpt = Path(c.checkpoint)
    stat = ckpt.stat() if ckpt.is_file() else None
    data = OmegaConf.to_container(c.data, resolve=True)
    data.pop("num_workers")
    probe = OmegaConf.to_container(c.probe, resolve=True)
    return {"checkpoint": str(ckpt.resolve()), "size": stat.st_size if stat else None,
            "mtime_ns": stat.st_mtime_ns if stat else None, "which": c.which, "split": name,
            "data": data, "protocol": probe["protocol"], "layers": probe["layers"],
            "across": probe["attend_across_segments"], "seed": c.seed,
            "world_size": ctx.env.world_size}


def fixed_split(ctx: Context, name: str, dataset: edata.Tolerant, indices: torch.Tensor
                ) -> cache.Split:
    """Features of a fixed-view split: from / into the cache, or encoded in memory."""
    batches = list(indices.split(ctx.cfg.data.batch_size))
    stream = feature_batches(ctx, dataset, batches, f"encode {name}")
    if not ctx.cfg.cache_features:
        return cache.collect(stream)
    return cache.cached(ctx.run_dir / "features" / name, _cache_key(ctx, name), ctx.env.rank,
                        stream)


def merged(counts: list[Counts]) -> list[Counts]:
    """Every rank's per-head counts, added up (exact: integer tallies)."""
    gathered = distributed.gather_objects(counts)  # [counts] for a single process
    out = gathered[0]
    for other in gathered[1:]:
        out = [a.merge(b) for a, b in zip(out, other, strict=True)]
    return out


def score(ctx: Context, probs: torch.Tensor, labels: torch.Tensor) -> list[Counts]:
    """[H, B, C] probabilities -> per-head counts merged over ranks."""
    if not len(labels):
        return merged([Counts.empty(ctx.num_classes) for _ in range(len(probs))])
    return merged([count(p, labels) for p in probs])
