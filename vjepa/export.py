"""`vjepa export`: a checkpoint's encoder (and optionally predictor) to safetensors + JSON, or to
the official V-JEPA / I-JEPA layout.

    vjepa export vitl16.pth.tar exported/vitl16                 # folder: model.safetensors,
                                                                 #         config.json
    vjepa export run/latest.pt vitl16-official.pth.tar --format vjepa --predictor

`load_pretrained` reads both back. The official layouts hold tensors only: `<file>.json` beside
one records its head count and preprocessing (frame step), and `load_pretrained` reads it.
Files are written under a temporary name and renamed, so an interrupted export never leaves a
partial file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

import vjepa
from vjepa.checkpoints.checksums import metadata_with_checksums, with_checksums
from vjepa.checkpoints.errors import CheckpointError
from vjepa.checkpoints.io import EXPORT_CONFIG, EXPORT_WEIGHTS, atomic_write
from vjepa.checkpoints.layouts import official
from vjepa.pretrained import (
    EXPORT_FORMAT,
    SIDECAR_FORMAT,
    Pretrained,
    load_pretrained,
    sidecar_path,
)

FORMATS = ("safetensors", "vjepa", "ijepa")


def _tensors(model: torch.nn.Module, part: str) -> dict[str, torch.Tensor]:
    return {f"{part}.{k}": v.detach().cpu().contiguous().clone()
            for k, v in model.state_dict().items()}


def export_config(encoder: Pretrained, predictor: Pretrained | None) -> dict[str, Any]:
    """The JSON config of an export: architectures, preprocessing and provenance."""
    config: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "version": vjepa.__version__,
        "source": {"path": encoder.path, "layout": encoder.layout, "which": encoder.which,
                   "epoch": encoder.epoch},
        "encoder": encoder.arch.to_dict(),
        "preprocess": encoder.preprocess.to_dict(),
    }
    if predictor is not None:
        config["predictor"] = predictor.arch.to_dict()
    return config


def export_safetensors(encoder: Pretrained, out_dir: str | Path,
                       predictor: Pretrained | None = None) -> Path:
    """Write `out_dir/model.safetensors` (keys `encoder.*`, `predictor.*`, the config in its
    metadata) and `out_dir/config.json`. Returns the folder."""
    from safetensors.torch import save_file

    _check_encoder(encoder)
    out_dir = Path(out_dir)
    config = export_config(encoder, predictor)
    tensors = _tensors(encoder.model, "encoder")
    if predictor is not None:
        tensors.update(_tensors(predictor.model, "predictor"))
    text = json.dumps(config, indent=2, sort_keys=True)
    with atomic_write(out_dir / EXPORT_WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata=metadata_with_checksums(tensors, {"config": text}))
    with atomic_write(out_dir / EXPORT_CONFIG) as tmp:
        tmp.write_text(text + "\n")
    return out_dir


def export_official(encoder: Pretrained, out_path: str | Path, layout: str,
                    predictor: Pretrained | None = None) -> Path:
    """Write a `torch.save` file in the official `layout` ("vjepa": `module.backbone.` keys,
    "ijepa": `module.` keys) that the official evaluation code loads. The encoder is stored
    under the key it came from (`target_encoder` or `encoder`)."""
    _check_encoder(encoder)
    if layout == "ijepa" and encoder.arch.num_frames > 1:
        raise ValueError("the official I-JEPA layout holds image encoders; this one is a video "
                         f"encoder of {encoder.arch.num_frames} frames: use --format vjepa")
    adapter = official(layout)
    states = {encoder.which: encoder.model.state_dict()}
    if predictor is not None:
        states["predictor"] = predictor.model.state_dict()
    out = adapter.write(states, epoch=encoder.epoch)
    with atomic_write(out_path) as tmp:
        torch.save(with_checksums(out), tmp)  # an extra key the official loaders ignore
    with atomic_write(sidecar_path(out_path)) as tmp:
        tmp.write_text(json.dumps(sidecar(encoder), indent=2, sort_keys=True) + "\n")
    return Path(out_path)


def sidecar(encoder: Pretrained) -> dict[str, Any]:
    """What the official layouts cannot hold (head count, preprocessing), which
    `load_pretrained` reads back from `<file>.json`; official code ignores the file."""
    return {"format": SIDECAR_FORMAT, "num_heads": encoder.arch.num_heads,
            "preprocess": encoder.preprocess.to_dict(), "encoder": encoder.arch.to_dict(),
            "source": {"path": encoder.path, "layout": encoder.layout, "which": encoder.which}}


def _check_encoder(encoder: Pretrained) -> None:
    if encoder.which not in ("encoder", "target_encoder"):
        raise ValueError(f"export needs an encoder, got {encoder.which!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vjepa export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="official .pth.tar/.pt, training checkpoint or export")
    parser.add_argument("out", help="output folder (safetensors) or file (official formats)")
    parser.add_argument("--format", choices=FORMATS, default="safetensors")
    parser.add_argument("--which", choices=("target_encoder", "encoder"), default=None,
                        help="encoder to export (default: target_encoder)")
    parser.add_argument("--predictor", action="store_true", help="also export the predictor")
    parser.add_argument("--num-heads", type=int, default=None)
    parser.add_argument("--num-frames", type=int, default=None)
    parser.add_argument("--img-size", type=int, default=None)
    parser.add_argument("--frame-step", type=int, default=None)
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow full unpickling (only for files you trust)")
    parser.add_argument("--overwrite", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    target = out / EXPORT_WEIGHTS if args.format == "safetensors" else out
    if target.exists() and not args.overwrite:
        raise SystemExit(f"vjepa export: {target} exists (pass --overwrite to replace it)")
    options: dict[str, Any] = {}
    for name in ("num_heads", "num_frames", "img_size"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    load = dict(options, frame_step=args.frame_step, trust_pickle=args.trust_pickle)
    try:
        encoder = load_pretrained(args.checkpoint, args.which, **load)
        predictor = (load_pretrained(args.checkpoint, "predictor", **load) if args.predictor
                     else None)
    except CheckpointError as error:  # a clear message, no traceback, non-zero exit
        print(f"vjepa export: {error}", file=sys.stderr)
        return 2
    if args.format == "safetensors":
        written = export_safetensors(encoder, out, predictor)
    else:
        written = export_official(encoder, out, args.format, predictor)
        print(f"{sidecar_path(written)}: num_heads {encoder.arch.num_heads} and frame_step "
              f"{encoder.preprocess.frame_step}, which the official layout cannot hold (keep "
              "it beside the file; load_pretrained reads it)")
    print(f"exported {encoder.which} ({encoder.layout}) of {args.checkpoint} -> {written}")
    return 0
