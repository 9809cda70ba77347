"""Structured config of `vjepa eval` (the schema) and the checks Hydra cannot make.

Recipes live in configs/eval/experiment/ (`vjepa eval experiment=<recipe> checkpoint=<file>`).
Imports neither Hydra nor OmegaConf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vjepa.slurm_config import LAUNCHERS, SlurmConfig
from vjepa.train.config_checks import fail

PROTOCOLS = ("attentive", "linear", "knn")
TEST_POSITIONS = ("centre", "official_random")
LABELS = ("class", "count")
SYNTHETIC = "synthetic"


@dataclass
class EvalDataConfig:
    """Train / test sets and the clip protocol.

    `train` / `val`: index files (`path label` lines), or "synthetic": the bundled synthetic
    set of `kind` (train seed 0, val seed 1), made on first use in `cache_dir`. Required.
    """

    kind: str = "video"  # video | image
    train: str = "???"
    val: str = "???"
    num_classes: int | None = None  # default: 1 + the largest label of train and val
    label: str = "class"  # synthetic images: "class" (shape) or "count" (object count - 1)
    frames_per_clip: int = 16
    frame_step: int = 4
    num_segments: int = 1
    num_views: int = 1  # spatial test views per segment: 1 (centre) or 3 (along the long side)
    test_positions: str = "centre"  # centre (deterministic) | official_random (as official)
    resolution: int = 224
    augment: bool = True  # official probe training augmentation (attentive probes)
    batch_size: int = 4  # per rank
    num_workers: int = 4
    backend: str | None = None
    timeout_s: float | None = 60.0
    lowshot_per_class: int | None = None  # train on a deterministic per-class subset
    lowshot_fraction: float | None = None
    cache_dir: str = "${oc.env:VJEPA_CACHE,'~/.cache/vjepa'}"
    synthetic_num: int = 256
    synthetic_val_num: int = 128
    synthetic_size: int = 64
    synthetic_frames: int = 32
    synthetic_shapes: int = 1  # synthetic videos: up to this many shapes per clip
    synthetic_background: int = 4  # synthetic videos: background noise grid side (4: set v3)


@dataclass
class ProbeConfig:
    protocol: str = "attentive"  # attentive | linear | knn
    order: str = "vjepa"  # attentive block order: vjepa | vjepa2
    depth: int = 1
    num_heads: int | None = None  # default: the encoder's
    apply_proj: bool = False
    attend_across_segments: bool = True
    layers: list[int] | None = None  # linear/knn: concat of these layers' pooled features
    knn_k: int = 20
    knn_temperature: float = 0.07


@dataclass
class EvalOptimConfig:
    """Heads = lrs x wds (one head: one of each). Defaults: V-JEPA's K400 probe recipe."""

    epochs: int = 20
    lrs: list[float] = field(default_factory=lambda: [1e-3])
    wds: list[float] = field(default_factory=lambda: [0.01])
    final_lr: float = 0.0
    final_weight_decay: float | None = 1e-6  # None: each head keeps its wd (V-JEPA 2)
    warmup_epochs: float = 0.0
    clip_grad: float | None = 1.0
    exclude_bias_wd: bool = True
    bf16: bool = True  # bf16 autocast on GPU (the official flag ran fp16 + GradScaler)
    holdout: float = 0.1  # training fraction held out to pick the head (several heads)


@dataclass
class EvalConfig:
    experiment: str = "video_tiny"
    checkpoint: str = "???"
    which: str | None = None  # default target_encoder
    encoder_heads: int | None = None  # needed for widths outside the size registry
    trust_pickle: bool = False
    seed: int = 0
    run_dir: str | None = None
    runs_root: str = "runs/eval"
    cache_features: bool = True  # fixed views: encode once, train from safetensors shards
    progress: bool = True
    device: str = "auto"
    launcher: str = "none"
    data: EvalDataConfig = field(default_factory=EvalDataConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    optim: EvalOptimConfig = field(default_factory=EvalOptimConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


def _at_least(cfg: Any, low: float, keys: tuple[str, ...], strict: bool = False) -> None:
    """Each dotted key is None or >= low (> low when strict)."""
    for key in keys:
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)
        many = isinstance(node, Sequence) and not isinstance(node, str)  # optim.lrs, .wds
        values = list(node) if many else [node]
        if any(v is not None and (v <= low if strict else v < low) for v in values):
            fail(key, values if many else node,
                  f"must be > {low:g}" if strict else f"must be >= {low:g}")


def validate(cfg: Any) -> None:
    """Reject impossible values, naming the key and the value."""
    d, p, o = cfg.data, cfg.probe, cfg.optim
    for key, value, choices in (("data.kind", d.kind, ("video", "image")),
                                ("data.test_positions", d.test_positions, TEST_POSITIONS),
                                ("data.label", d.label, LABELS),
                                ("probe.protocol", p.protocol, PROTOCOLS),
                                ("probe.order", p.order, ("vjepa", "vjepa2")),
                                ("device", cfg.device, ("auto", "cpu", "cuda")),
                                ("launcher", cfg.launcher, ("none", *LAUNCHERS))):
        if value not in choices:
            fail(key, value, f"choose one of {choices}")
    if d.num_views not in (1, 3):
        fail("data.num_views", d.num_views, "1 (centre crop) or 3 (crops along the long side)")
    _at_least(cfg, 1, ("data.num_segments", "data.batch_size", "data.frames_per_clip",
                       "optim.epochs", "data.frame_step", "probe.depth", "data.num_classes",
                       "data.resolution", "data.lowshot_per_class", "data.synthetic_num",
                       "data.synthetic_val_num", "data.synthetic_size", "data.synthetic_frames",
                       "data.synthetic_shapes", "data.synthetic_background",
                       "probe.num_heads", "probe.knn_k", "encoder_heads"))
    _at_least(cfg, 0, ("data.num_workers", "seed", "optim.wds", "optim.final_lr",
                       "optim.final_weight_decay", "optim.warmup_epochs", "optim.holdout"))
    _at_least(cfg, 0, ("data.timeout_s", "data.lowshot_fraction", "probe.knn_temperature",
                       "optim.lrs", "optim.clip_grad"), strict=True)
    if d.lowshot_fraction is not None and d.lowshot_fraction > 1:
        fail("data.lowshot_fraction", d.lowshot_fraction, "is a fraction in (0, 1]")
    if not o.lrs or not o.wds:
        fail("optim.lrs/wds", (o.lrs, o.wds), "need at least one lr and one wd")
    if not 0 <= o.holdout < 1 or (len(o.lrs) * len(o.wds) > 1 and o.holdout == 0):
        fail("optim.holdout", o.holdout, "several heads need a held-out fraction in (0, 1)")
    if d.lowshot_per_class is not None and d.lowshot_fraction is not None:
        fail("data.lowshot_*", (d.lowshot_per_class, d.lowshot_fraction), "set at most one")
    if d.label == "count" and (d.kind != "image" or d.train != SYNTHETIC):
        fail("data.label", d.label, "the count probe is for the synthetic image set")
