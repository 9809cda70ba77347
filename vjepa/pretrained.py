"""`load_pretrained`: official and own checkpoints in, a strictly loaded model out.

    pre = load_pretrained("vitl16.pth.tar")        # target encoder, eval mode
    pre.model, pre.preprocess, pre.arch, pre.layout

Supported files: facebookresearch/jepa (V-JEPA) and facebookresearch/ijepa pretraining
checkpoints, the non-RoPE V-JEPA 2 files (same layout as V-JEPA), official attentive-probe
files ("classifier"), this project's training checkpoints and `vjepa export` folders. The
layout is detected, wrapper prefixes are stripped, the architecture is inferred from the
tensors, and the weights are loaded strictly: any missing, unexpected or mis-shaped key raises
an error listing all of them. RoPE encoders (V-JEPA 2 / 2.1) raise `UnsupportedCheckpointError`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vjepa.checkpoints.arch import EncoderArch, PredictorArch, ProbeArch
from vjepa.checkpoints.errors import CheckpointError
from vjepa.checkpoints.infer import infer_encoder, infer_predictor, infer_probe
from vjepa.checkpoints.io import SAFETENSORS_SUFFIX, read_export, read_torch_checkpoint
from vjepa.checkpoints.layouts import LAYOUTS, default_which, detect_layout
from vjepa.checkpoints.strict import build_loaded
from vjepa.data.transforms import IMAGENET_MEAN, IMAGENET_STD

VIDEO_FRAME_STEP = 4  # V-JEPA's default sampling rate
WHICH = ("target_encoder", "encoder", "predictor", "classifier")
EXPORT_FORMAT = "vjepa-export-v1"
SIDECAR_FORMAT = "vjepa-official-sidecar-v1"  # <file>.json beside an official-layout export


@dataclass(frozen=True)
class Preprocessing:
    """What an encoder expects: crop (H, W), frames per clip, frame step, normalisation."""

    resolution: tuple[int, int]
    num_frames: int
    frame_step: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def is_video(self) -> bool:
        return self.num_frames > 1

    def __str__(self) -> str:
        size = "x".join(str(n) for n in self.resolution) + " px"
        if not self.is_video:
            return f"{size} images"
        return f"{size}, {self.num_frames} frames, step {self.frame_step}"

    def to_dict(self) -> dict[str, Any]:
        return {"resolution": list(self.resolution), "num_frames": self.num_frames,
                "frame_step": self.frame_step, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(tuple(data["resolution"]), int(data["num_frames"]), int(data["frame_step"]),
                   tuple(data["mean"]), tuple(data["std"]))


@dataclass
class Pretrained:
    """A loaded model (eval mode) with what produced it.

    Attributes:
        model: VisionTransformer, Predictor or AttentiveClassifier.
        preprocess: the encoder's input expectations (for a predictor: its encoder's).
        arch: the architecture record the model was built from.
        encoder_arch: the encoder's architecture (equal to `arch` for encoders).
        layout: detected layout ("vjepa", "ijepa", "vjepa-train", "vjepa-export", "probe", ...).
        which: the state dict taken ("target_encoder", "encoder", "predictor", "classifier").
        epoch: training epoch recorded in the file, if any.
    """

    model: nn.Module
    preprocess: Preprocessing | None
    arch: EncoderArch | PredictorArch | ProbeArch
    encoder_arch: EncoderArch | None
    layout: str
    which: str
    path: str
    epoch: int | None = None


def preprocessing_for(img_size: tuple[int, int], num_frames: int,
                      frame_step: int | None = None) -> Preprocessing:
    """An encoder's preprocessing; `frame_step` defaults to 4 for video, 1 for images."""
    step = frame_step if frame_step is not None else (VIDEO_FRAME_STEP if num_frames > 1 else 1)
    if step < 1:
        raise ValueError(f"frame_step must be >= 1, got {step}")
    return Preprocessing(tuple(img_size), num_frames, step)


def sidecar_path(path: str | Path) -> Path:
    """`<file>.json` beside an official-layout export: what that layout cannot hold."""
    return Path(f"{path}.json")


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """{"num_heads", "frame_step"} recorded beside an official-layout file, {} if none."""
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text())
        if data.get("format") != SIDECAR_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {SIDECAR_FORMAT!r}")
        return {"num_heads": int(data["num_heads"]),
                "frame_step": int(data["preprocess"]["frame_step"])}
    except (AttributeError, KeyError, TypeError, ValueError) as error:  # JSONDecodeError too
        raise CheckpointError(str(side), f"not a valid sidecar of {path} ({error})") from error


def _is_export(path: Path) -> bool:
    return path.is_dir() or path.suffix == SAFETENSORS_SUFFIX


def _train_frame_step(ckpt: dict[str, Any]) -> int | None:
    """The frame step recorded in a training checkpoint's resolved config."""
    data = (ckpt.get("config") or {}).get("data") or {}
    by_time = {k: data[k] for k in ("fps", "duration") if data.get(k) is not None}
    if by_time:  # the frame step was chosen per video
        warnings.warn(f"trained with data.{next(iter(by_time))}={next(iter(by_time.values()))} "
                      f"(a frame step per video, not one number): preprocess.frame_step is "
                      f"{VIDEO_FRAME_STEP} unless load_pretrained(frame_step=...) says otherwise",
                      stacklevel=4)
        return None
    return data.get("frame_step")


def _train_archs(ckpt: dict[str, Any], path: str, pins: dict[str, Any]
                 ) -> tuple[EncoderArch, PredictorArch]:
    """The encoder's and predictor's records built from the `model` config a training
    checkpoint records (the one builder's mapping; nothing re-inferred from the tensors).
    A pinned value (`load_pretrained(num_heads=...)`, ...) must agree with it."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from vjepa.train.build import encoder_arch, predictor_arch
    from vjepa.train.config import ModelConfig

    recorded = (ckpt.get("config") or {}).get("model")
    if not isinstance(recorded, dict):
        raise CheckpointError(path, "this training checkpoint records no model config")
    try:
        model = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), recorded))
        encoder = encoder_arch(model)
    except (OmegaConfBaseException, KeyError, ValueError) as error:
        raise CheckpointError(path, f"its recorded model config does not build: {error}") from error
    differ = {k: (v, getattr(encoder, k)) for k, v in pins.items()
              if v is not None and v != getattr(encoder, k)}
    if differ:
        said = ", ".join(f"{k}={v!r} (recorded {r!r})" for k, (v, r) in differ.items())
        raise CheckpointError(path, f"the recorded model config fixes the architecture: {said}")
    return encoder, predictor_arch(model)


@dataclass
class _Plan:
    """What a file holds, before any module is built: the arch and the state to load."""

    arch: EncoderArch | PredictorArch | ProbeArch
    encoder_arch: EncoderArch | None
    preprocess: Preprocessing | None
    layout: str
    which: str
    path: str
    epoch: int | None
    state: dict[str, torch.Tensor]


def _encoder_arch(ckpt: dict[str, Any], layout: str, path: str, options: dict[str, Any]
                  ) -> EncoderArch:
    key = "target_encoder" if "target_encoder" in ckpt else "encoder"
    return infer_encoder(LAYOUTS[layout].read(ckpt, key, path), path, **options)


def _plan_torch_file(path: str, which: str | None, options: dict[str, Any],
                     frame_step: int | None, apply_proj: bool | None,
                     trust_pickle: bool) -> _Plan:
    ckpt = read_torch_checkpoint(path, trust_pickle=trust_pickle)
    layout = detect_layout(ckpt, path)
    which = which or default_which(layout)
    side = read_sidecar(path)  # written by `vjepa export --format vjepa|ijepa`
    if side:
        options = {**options, "num_heads": options["num_heads"] or side["num_heads"]}
        frame_step = frame_step if frame_step is not None else side["frame_step"]
    if layout == "ijepa":
        options = {**options, "pos_order": "wh"}
    state = LAYOUTS[layout].read(ckpt, which, path)
    epoch = ckpt.get("epoch") if isinstance(ckpt.get("epoch"), int) else None
    if layout == "vjepa-train" and which != "classifier":
        encoder, predictor = _train_archs(ckpt, path, options)
        step = frame_step if frame_step is not None else _train_frame_step(ckpt)
        prep = preprocessing_for(encoder.img_size, encoder.num_frames, step)
        arch = predictor if which == "predictor" else encoder
        return _Plan(arch, encoder, prep, layout, which, path, epoch, state)
    if which == "classifier":
        arch = infer_probe(state, path, options["num_heads"],
                           apply_proj=False if apply_proj is None else apply_proj)
        return _Plan(arch, None, None, layout, which, path, epoch, state)
    if which == "predictor":
        encoder = _encoder_arch(ckpt, layout, path, options)
        arch: Any = infer_predictor(state, path, encoder)
    else:
        encoder = arch = infer_encoder(state, path, **options)
    prep = preprocessing_for(encoder.img_size, encoder.num_frames, frame_step)
    return _Plan(arch, encoder, prep, layout, which, path, epoch, state)


def _plan_export(path: str, which: str | None, frame_step: int | None) -> _Plan:
    tensors, config, weights = read_export(path)
    if config.get("format") != EXPORT_FORMAT:
        raise CheckpointError(str(weights), f"unknown export format {config.get('format')!r}")
    which = which or config["source"]["which"]
    part = "predictor" if which == "predictor" else "encoder"
    if part not in config:
        raise CheckpointError(str(weights), f"this export holds no {part}")
    if part == "encoder" and which != config["source"]["which"]:
        raise CheckpointError(
            str(weights), f"asked for {which!r}, this export holds the "
            f"{config['source']['which']!r} of {config['source']['path']}",
        )
    try:
        encoder = EncoderArch.from_dict(config["encoder"])
        arch = encoder if part == "encoder" else PredictorArch.from_dict(config["predictor"])
        prep = Preprocessing.from_dict(config["preprocess"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(str(weights), f"invalid export config: {error!r}") from error
    if frame_step is not None:
        prep = Preprocessing(prep.resolution, prep.num_frames, frame_step, prep.mean, prep.std)
    state = {k[len(part) + 1:]: v for k, v in tensors.items() if k.startswith(part + ".")}
    return _Plan(arch, encoder, prep, "vjepa-export", which, str(weights),
                 config["source"].get("epoch"), state)


def load_pretrained(
    path: str | Path,
    which: str | None = None,
    *,
    num_heads: int | None = None,
    num_frames: int | None = None,
    img_size: int | tuple[int, int] | None = None,
    uniform_power: bool | None = None,
    frame_step: int | None = None,
    apply_proj: bool | None = None,
    trust_pickle: bool = False,
    device: str | torch.device = "cpu",
) -> Pretrained:
    """Load a checkpoint's model strictly, inferring its architecture.

    Args:
        path: a `.pth.tar`/`.pt` checkpoint, or a `vjepa export` folder / `.safetensors` file.
        which: "target_encoder" (default for pretraining files), "encoder", "predictor" or
            "classifier" (default for probe files).
        num_heads: attention heads of the encoder (checkpoints do not store it); needed only
            for widths outside the registry (192, 384, 768, 1024, 1280, 1408, 1664).
        num_frames, img_size, uniform_power: pin what is otherwise inferred from the stored
            position table (needed only when that table is not a fixed sin-cos table).
        frame_step: frame step of the returned preprocessing (default: recorded value, else 4
            for video, 1 for images).
        apply_proj: probes only; False (default) reproduces the official probes, whose
            cross-attention never applies `xattn.proj`.
        trust_pickle: allow `torch.load(weights_only=False)` for files holding Python objects.
    Returns:
        `Pretrained` with `.model` in eval mode on `device`, `.preprocess`, `.arch`, `.layout`.
    Raises:
        CheckpointError (a ValueError) naming the file: unreadable/truncated file, unknown
        layout, missing state dict, uninferable architecture, or strict-load mismatches
        (`StateDictMismatchError`); `UnsupportedCheckpointError` for RoPE (V-JEPA 2) models.
    """
    if which is not None and which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if isinstance(img_size, int):
        img_size = (img_size, img_size)
    path = str(path)
    pinned = {"num_heads": num_heads, "num_frames": num_frames, "img_size": img_size,
              "uniform_power": uniform_power, "apply_proj": apply_proj}
    if _is_export(Path(path)) and any(v is not None for v in pinned.values()):
        given = sorted(k for k, v in pinned.items() if v is not None)
        raise ValueError(f"{path}: an export's config fixes the architecture; do not pass {given}")
    if _is_export(Path(path)):
        plan = _plan_export(path, which, frame_step)
    else:
        options = {"num_heads": num_heads, "num_frames": num_frames, "img_size": img_size,
                   "uniform_power": uniform_power}
        plan = _plan_torch_file(path, which, options, frame_step, apply_proj, trust_pickle)
    model = build_loaded(plan.arch.build, plan.state, plan.path, f"{plan.which} state dict")
    return Pretrained(model.to(device).eval(), plan.preprocess, plan.arch, plan.encoder_arch,
                      plan.layout, plan.which, plan.path, plan.epoch)
