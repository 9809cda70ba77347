"""Structured training config: dataclasses (the schema) and the checks Hydra cannot make.

Hydra/OmegaConf enforce the schema (an unknown key, a wrong type, a value outside a choice Enum or
a missing `???` value fails at composition with the key named); `validate` then rejects
impossible values with the field and value named (`vjepa.train.config_checks`). This module
imports neither Hydra nor OmegaConf, so light tools can use the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

from vjepa.slurm_config import SlurmConfig

REQUIRED: Any = "???"  # OmegaConf's mark of a mandatory value (omegaconf.MISSING)


class Choice(str, Enum):
    """A closed set of config values. Members are their strings (name == value): they compare,
    hash and format as the string, so the models' Literal-typed arguments take them as they are;
    YAML files and saved configs hold the plain string."""

    def __str__(self) -> str:
        return str(self.value)


class PosOrder(Choice):  # 2D sin-cos table layout (vjepa.models.pos_embed.PosOrder2D)
    hw = "hw"  # V-JEPA
    wh = "wh"  # official I-JEPA


class MaskTokenLayout(Choice):  # vjepa.models.predictor.MaskTokenLayout
    per_config = "per_config"  # V-JEPA: one mask token per mask group
    single = "single"  # I-JEPA


class LossType(Choice):  # vjepa.jepa.LossType
    l1 = "l1"  # V-JEPA
    smooth_l1 = "smooth_l1"  # I-JEPA


class DataKind(Choice):
    video = "video"
    image = "image"


class DType(Choice):  # autocast dtype (vjepa.train.step.AUTOCAST_DTYPES)
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"  # with a GradScaler


class ShortPolicy(Choice):  # videos shorter than a clip (vjepa.data.sampling)
    filter = "filter"
    pad = "pad"
    loop = "loop"


class Device(Choice):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Backend(Choice):
    auto = "auto"  # nccl on GPU, gloo on CPU
    nccl = "nccl"
    gloo = "gloo"


class Switch(Choice):  # a speed lever: auto = on for CUDA, off on the CPU
    auto = "auto"
    on = "on"
    off = "off"


class Compile(Choice):  # vjepa.train.speed.compile_blocks
    auto = "auto"  # blocks on CUDA, off on the CPU
    off = "off"
    blocks = "blocks"  # regional torch.compile of every ViT / predictor block


class Pack(Choice):  # vjepa.models.packing
    auto = "auto"  # predictor on CUDA, off on the CPU
    off = "off"  # one encoder and one predictor call per mask group (the official loop)
    predictor = "predictor"  # one predictor call for all groups (V-JEPA: no padding waste)
    pad = "pad"  # one encoder and one predictor call, shorter sequences padded and masked out


@dataclass
class ModelConfig:
    """Encoder + predictor. `size` names a registry entry (vjepa.models.vit.VIT_SIZES); the
    optional embed_dim / depth / num_heads override it (tiny CPU models)."""

    size: str = "large"
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    crop_size: int = 224
    patch_size: int = 16
    num_frames: int = 16  # 1 = image model (I-JEPA)
    tubelet_size: int = 2
    uniform_power: bool = True
    pos_order: PosOrder = PosOrder.hw
    drop_path_rate: float = 0.0
    pred_depth: int = 12
    pred_embed_dim: int = 384
    mask_token_layout: MaskTokenLayout = MaskTokenLayout.per_config
    num_mask_tokens: int = 2
    zero_init_mask_tokens: bool = True
    loss_type: LossType = LossType.l1
    loss_exp: float = 1.0


@dataclass
class Mask3DConfig:
    """One V-JEPA mask configuration (vjepa.masks.multiblock3d.MultiBlock3D)."""

    num_blocks: int = 8
    spatial_scale: list[float] = field(default_factory=lambda: [0.15, 0.15])
    temporal_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])
    aspect_ratio: list[float] = field(default_factory=lambda: [0.75, 1.5])
    max_temporal_keep: float = 1.0
    max_keep: int | None = None


@dataclass
class Mask2DConfig:
    """The I-JEPA multi-block masks (vjepa.masks.multiblock2d.MultiBlock2D)."""

    enc_mask_scale: list[float] = field(default_factory=lambda: [0.85, 1.0])
    pred_mask_scale: list[float] = field(default_factory=lambda: [0.15, 0.2])
    aspect_ratio: list[float] = field(default_factory=lambda: [0.75, 1.5])
    nenc: int = 1
    npred: int = 4
    min_keep: int = 10
    allow_overlap: bool = False


@dataclass
class MaskConfig:
    """Video models (num_frames > 1) use `video` (one group per entry); image models `image`."""

    video: list[Mask3DConfig] = field(
        default_factory=lambda: [
            Mask3DConfig(), Mask3DConfig(num_blocks=2, spatial_scale=[0.7, 0.7])
        ]
    )
    image: Mask2DConfig = field(default_factory=Mask2DConfig)


@dataclass
class DataConfig:
    """Training data. `sources` is required (a recipe sets it); an empty list = the bundled
    synthetic set, made on first use in `cache_dir`/synthetic."""

    kind: DataKind = DataKind.video
    sources: list[str] = REQUIRED  # index files (`path label`) or folders
    weights: list[float] | None = None  # one sampling weight per source
    cache_dir: str = "${oc.env:VJEPA_CACHE,'~/.cache/vjepa'}"
    synthetic_num: int = 256  # synthetic set: number of clips / images
    synthetic_size: int = 64  # synthetic set: frame side in pixels
    synthetic_frames: int = 32  # synthetic set: frames per clip
    synthetic_shapes: int = 1  # synthetic videos: up to this many shapes per clip
    synthetic_background: int = 4  # synthetic videos: background noise grid side (4: set v3)
    batch_size: int = 24  # per process (GPU); global = batch_size * world_size * accum_steps
    frame_step: int = 4  # sampling rate (official `sampling_rate`)
    fps: float | None = None  # instead of frame_step: sample each video at this frame rate
    duration: float | None = None  # instead of frame_step: seconds one clip spans
    num_clips: int = 1  # clips per video, all trained on (folded into the batch, masks shared)
    random_resize_scale: list[float] = field(default_factory=lambda: [0.3, 1.0])
    random_resize_aspect_ratio: list[float] = field(default_factory=lambda: [0.75, 1.35])
    horizontal_flip: bool = True
    decoder: str | None = None  # pyav | decord | torchcodec; null = the data package's default
    short_policy: ShortPolicy = ShortPolicy.pad
    timeout_s: float | None = 30.0  # bound on decoding one sample
    num_workers: int = 8
    pin_memory: bool = True
    max_bad_fraction: float = 0.05


@dataclass
class OptimConfig:
    """AdamW + schedules, as functions of the global (optimizer) step; see schedules.py."""

    epochs: int = 300
    ipe: int | None = 300  # iterations per epoch; null = one pass over the data per epoch
    ipe_scale: float = 1.25
    warmup: float = 40.0  # epochs
    start_lr: float = 2e-4
    lr: float = 6.25e-4
    final_lr: float = 1e-6
    weight_decay: float = 0.04
    final_weight_decay: float = 0.4
    ema: list[float] = field(default_factory=lambda: [0.998, 1.0])
    clip_grad: float | None = 10.0  # per module (encoder, predictor), after warmup, as official
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    accum_steps: int = 1
    dtype: DType = DType.bfloat16
    max_steps: int | None = None  # stop early at this global step (the schedules keep epochs)
    max_nonfinite: int = 5  # stop after this many non-finite losses in a row


@dataclass
class LoggingConfig:
    log_every: int = 10  # steps between metric rows (host reads happen only then)
    checkpoint_every: int = 300  # steps between `latest.pt` writes
    keep_every: int = 3000  # steps between kept `step_XXXXXXXX.pt` copies (0: none)
    tensorboard: bool = True
    progress: bool = True
    plots: bool = True
    # Warn when an indicator of the target features falls below its floor. Measured on the
    # tiny recipe: healthy runs hold std_tokens ~0.45 and std_samples ~0.07; with EMA 0.996 and
    # lr 1e-3 they sink to 0.17 and 0.03 while the loss keeps falling.
    floor_std_samples: float = 0.05
    floor_std_tokens: float = 0.2
    floor_rank: float = 2.0


@dataclass
class ProbeEvalConfig:
    """In-training probe of the target encoder on a held-out labelled set (see
    vjepa.train.probe_eval). Off (every=0) by default: the published recipes' data has no
    labels to probe with; the tiny recipes turn it on."""

    every: int = 0  # epochs between probes (0: off); step 0 probes the random-init encoder
    protocols: list[str] = field(default_factory=lambda: ["knn"])  # knn | linear | attentive
    train_index: str | None = None  # labelled index files; null: a held-out synthetic set
    test_index: str | None = None
    label: str = "class"  # synthetic images: "class" (shape) or "count" (object count)
    num_train: int = 256  # synthetic held-out set: samples to train the probe on
    num_test: int = 256  # ... and to score it on
    seed: int = 7  # synthetic held-out set seed (the training set is seed 0)
    epochs: int = 20  # linear / attentive probe epochs
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    k: int = 20  # k-NN neighbours


@dataclass
class SpeedConfig:
    """How a step runs, not what it computes (vjepa.train.speed): each lever gives the plain
    path's loss and gradients within float tolerance (tests). `auto` = the fast path on CUDA,
    the plain one on the CPU."""

    fused_adamw: Switch = Switch.auto  # torch's fused AdamW kernel (and the skip on device)
    compile: Compile = Compile.auto
    activation_checkpointing: bool = False  # recompute each block in backward (ViT-g/H memory)
    pack: Pack = Pack.auto


@dataclass
class DistConfig:
    device: Device = Device.auto
    backend: Backend = Backend.auto
    timeout_s: int = 1800


@dataclass
class TrainConfig:
    experiment: str = "vjepa_tiny"
    seed: int = 234
    run_dir: str | None = None  # default runs/<experiment>/<UTC timestamp>, resolved once
    runs_root: str = "runs"
    launcher: str = "none"  # "none": run here; else submitted by vjepa.launch
    resume_check: bool = True  # refuse to resume a run under a changed recipe
    resume_fallback: bool = False  # corrupted latest.pt: resume from the newest good kept copy
    model: ModelConfig = field(default_factory=ModelConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    probe: ProbeEvalConfig = field(default_factory=ProbeEvalConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    dist: DistConfig = field(default_factory=DistConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


def to_plain(node: Any) -> Any:
    """A typed config (dataclasses, Enum members) as plain dicts, lists and strings: what a
    checkpoint and the resume check store (equal to OmegaConf's enum_to_str container)."""
    if is_dataclass(node) and not isinstance(node, type):
        return {f.name: to_plain(getattr(node, f.name)) for f in fields(node)}
    if isinstance(node, Enum):
        return node.name
    if isinstance(node, (list, tuple)):
        return [to_plain(v) for v in node]
    if isinstance(node, dict):
        return {k: to_plain(v) for k, v in node.items()}
    return node


# Keys that may change between a run and its resumption (how, not what, it trains).
OPERATIONAL_KEYS = frozenset({
    "run_dir", "runs_root", "launcher", "resume_check", "resume_fallback", "experiment",
    "data.cache_dir",
    "data.num_workers", "data.pin_memory", "data.timeout_s", "optim.max_steps",
    "optim.max_nonfinite",
})
RECIPE_SECTIONS = ("seed", "model", "mask", "data", "optim")


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def recipe_changes(old: dict, new: dict) -> dict[str, tuple[Any, Any]]:
    """Recipe keys (seed, model, mask, data, optim) whose value differs: {key: (old, new)}."""
    a = _flatten({k: old.get(k) for k in RECIPE_SECTIONS})
    b = _flatten({k: new.get(k) for k in RECIPE_SECTIONS})
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if k not in OPERATIONAL_KEYS and a.get(k) != b.get(k)}
