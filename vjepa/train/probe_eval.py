"""In-training probe: is the target encoder learning something a label can read?

Every ``probe.every`` epochs the frozen target encoder encodes a small held-out labelled set
(decoded once, kept in memory) and cheap probes from the evaluation engine
(:mod:`vjepa.eval.fit`) are trained and scored on it:

- ``knn``: k-NN on mean-pooled tokens (seconds);
- ``linear``: a linear probe on mean-pooled tokens;
- ``attentive``: an attentive probe (depth 1) on the tokens: the one that reads motion, since
  mean pooling discards where things are.

Step 0 probes the encoder before any update: the random-init encoder of the same shape, the
baseline a pretrained encoder has to beat (saved in ``probe_init.json`` so that a resumed run
keeps it). Scores are top-1 accuracies in [0, 1], logged as ``probe_<protocol>`` (NaN in rows
without a probe) and ``probe_<protocol>_init`` beside the loss and the collapse indicators.

The held-out set is ``probe.train_index`` / ``probe.test_index`` (``path label`` index files),
or, by default, a synthetic set like the training one but drawn from another seed
(``probe.seed``), split into ``num_train`` and ``num_test`` samples.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vjepa.data.builder import build_dataset
from vjepa.data.decoders import DEFAULT_BACKEND
from vjepa.data.synthetic import COUNT_INDEX
from vjepa.eval import fit
from vjepa.eval.encode import encode
from vjepa.models.vit import VisionTransformer
from vjepa.train.data import synthetic_set

log = logging.getLogger("vjepa.train")
INIT_FILE = "probe_init.json"


@dataclass
class LabelledSet:
    """Model inputs [N, C, T, H, W] and labels [N] of the probe's train and test parts."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    def to(self, device: torch.device) -> LabelledSet:
        """The same set with its inputs and labels on ``device``."""
        return LabelledSet(self.train_x.to(device), self.train_y.to(device),
                           self.test_x.to(device), self.test_y.to(device), self.num_classes)


def synthetic_probe_index(cfg: Any) -> str:
    """The held-out synthetic set of the probe (built on first use), as an index file."""
    p = cfg.probe
    index = synthetic_set(cfg.data, p.num_train + p.num_test, p.seed, f"_probe_seed{p.seed}")
    return str(index.parent / COUNT_INDEX) if p.label == "count" else str(index)


def load_inputs(cfg: Any, index: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sample of an index as one centre view: inputs [N, C, T, H, W], labels [N]."""
    d, m = cfg.data, cfg.model
    video = d.kind == "video"
    extra = dict(frames_per_clip=m.num_frames, frame_step=d.frame_step,
                 backend=d.decoder or DEFAULT_BACKEND) if video else {}
    dataset = build_dataset(d.kind, [index], training=False, crop_size=m.crop_size,
                            resize_size=m.crop_size, timeout_s=d.timeout_s, seed=cfg.seed,
                            **extra)
    xs, ys = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        if item["bad"]:
            raise ValueError(f"probe set {index}: sample {i} failed to decode: {item['bad']}")
        xs.append(item["video"].reshape(-1, *item["video"].shape[-4:])[0])
        ys.append(int(item["label"]))
    return torch.stack(xs), torch.tensor(ys)


def labelled_set(cfg: Any) -> LabelledSet:
    """The probe's held-out set of a training config (see the module docstring)."""
    p = cfg.probe
    if p.train_index is not None:
        train_x, train_y = load_inputs(cfg, p.train_index)
        test_x, test_y = load_inputs(cfg, p.test_index)
    else:
        x, y = load_inputs(cfg, synthetic_probe_index(cfg))
        n = p.num_train
        train_x, train_y, test_x, test_y = x[:n], y[:n], x[n:], y[n:]
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    return LabelledSet(train_x, train_y, test_x, test_y, num_classes)


def encode_all(encoder: VisionTransformer, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Tokens [N, L, D] of the encoder in eval mode (its train/eval mode is restored), on the
    encoder's device: the probes then train where the encoder runs (the GPU in training)."""
    was_training = encoder.training
    encoder.eval()
    try:
        return torch.cat([encode(encoder, x[i : i + batch_size]).clone()
                          for i in range(0, len(x), batch_size)])
    finally:
        encoder.train(was_training)


def probe_scores(encoder: VisionTransformer, data: LabelledSet, p: Any,
                 seed: int = 0) -> dict[str, float]:
    """Top-1 accuracy in [0, 1] of each protocol in ``p.protocols`` on the encoder's tokens."""
    tokens = LabelledSet(encode_all(encoder, data.train_x, p.batch_size), data.train_y,
                         encode_all(encoder, data.test_x, p.batch_size), data.test_y,
                         data.num_classes)
    return token_scores(tokens, p, _heads(encoder), seed)


def token_scores(t: LabelledSet, p: Any, num_heads: int, seed: int = 0) -> dict[str, float]:
    """Top-1 accuracy in [0, 1] of each protocol on tokens [N, L, D] (``t.*_x``), computed on
    the tokens' device (the labels are moved there)."""
    t = t.to(t.train_x.device)
    heads = (fit.HeadConfig(lr=p.lr, weight_decay=p.weight_decay,
                            final_weight_decay=p.weight_decay),)
    pooled_train, pooled_test = fit.pool_tokens(t.train_x), fit.pool_tokens(t.test_x)
    out = {}
    for name in p.protocols:
        if name == "knn":
            result = fit.knn(pooled_train, t.train_y, pooled_test, t.test_y, t.num_classes,
                             k=p.k)
        else:
            pooled = name == "linear"
            result = fit.probe(pooled_train if pooled else t.train_x, t.train_y,
                               pooled_test if pooled else t.test_x, t.test_y, t.num_classes,
                               fit.ProbeSpec(name, num_heads=num_heads), heads, p.epochs,
                               p.batch_size, seed=seed).chosen_test
        out[name] = result["top1"] / 100.0
    return out


def _heads(encoder: VisionTransformer) -> int:
    return int(encoder.blocks[0].attn.num_heads)


class InTrainingProbe:
    """Probes the target encoder at step 0 and every ``every`` epochs; rank 0 only."""

    def __init__(self, cfg: Any, data: LabelledSet, run_dir: Path) -> None:
        self.p, self.data, self.run_dir = cfg.probe, data, Path(run_dir)
        self.names = list(self.p.protocols)
        self.init: dict[str, float] = dict.fromkeys(self.names, math.nan)
        self.pending: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.last_step = -1

    def run(self, encoder: VisionTransformer, step: int) -> dict[str, float]:
        t0 = time.perf_counter()
        scores = probe_scores(encoder, self.data, self.p)
        self.pending, self.last, self.last_step = dict(scores), dict(scores), step
        log.info("step %d: probe of the target encoder %s (%.1fs)", step,
                 _fmt(scores), time.perf_counter() - t0)
        return scores

    def start(self, encoder: VisionTransformer, step: int) -> None:
        """Step 0: probe the random-init encoder and save it; a resumed run reads it back."""
        path = self.run_dir / INIT_FILE
        if step == 0 or not path.is_file():
            if step:
                log.warning("no %s in %s: the resumed encoder is probed as the baseline",
                            INIT_FILE, self.run_dir)
            self.init = self.run(encoder, step)
            self.pending = {}  # the baseline has its own columns
            path.write_text(json.dumps({"step": step, "scores": self.init}, indent=1))
        else:
            self.init.update(json.loads(path.read_text())["scores"])

    def after_step(self, encoder: VisionTransformer, step: int, ipe: int,
                   total_steps: int) -> None:
        """Probe after every ``every`` epochs and after the last step."""
        if step % (self.p.every * ipe) == 0 or step == total_steps:
            self.run(encoder, step)

    def columns(self) -> dict[str, float]:
        """Metric columns of a log row: the scores of a probe since the last row, else NaN."""
        row = {f"probe_{n}": self.pending.get(n, math.nan) for n in self.names}
        row.update({f"probe_{n}_init": self.init[n] for n in self.names})
        self.pending = {}
        return row

    def summary(self) -> dict[str, Any]:
        return {"step": self.last_step, "target": self.last, "random_init": self.init,
                "chance": 1.0 / self.data.num_classes}

    def report(self) -> str:
        return (f"in-training probe at step {self.last_step}: target encoder "
                f"{_fmt(self.last)} vs random-init encoder {_fmt(self.init)} "
                f"(chance {1.0 / self.data.num_classes:.3f})")


def _fmt(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in scores.items())


def build_probe(cfg: Any, run_dir: Path) -> InTrainingProbe | None:
    """The in-training probe of a config, or None when ``probe.every`` is 0."""
    if not cfg.probe.every:
        return None
    t0 = time.perf_counter()
    data = labelled_set(cfg)
    log.info("probe set: %d train / %d test samples, %d classes (%.1fs)", len(data.train_y),
             len(data.test_y), data.num_classes, time.perf_counter() - t0)
    return InTrainingProbe(cfg, data, run_dir)
