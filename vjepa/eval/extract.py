"""`vjepa extract`: frozen features of every video/image of an index file or folder.

    vjepa extract vitl16.pth.tar videos/ features/ --stride 32 --pool mean

One safetensors file per input, at the input's path relative to the input root plus
`.safetensors` (tensors "features" and, for videos, "start_s", "end_s", "frame_indices"; the
window times and the extraction config also in its metadata), and a manifest
(`manifest.json`, or `manifest-rank<r>-of-<w>.json` per shard) listing every input as done,
skipped (already extracted) or bad (with the decoder's reason). Under a class folder tree
(`videos/<class>/...`) each file gets its class's label, as in training. Resumable: a file
already extracted with the same checkpoint (path, size, modification time), options, source
and label is skipped; one made differently is never mixed in: the run refuses before
extracting anything and names what differs, or recomputes it with `--overwrite`
(`vjepa.eval.extract_fresh`). Files are written under a temporary name then renamed (mode from
the umask), so an interrupted run never leaves a half-written file.
`run_extract(ExtractConfig(..., rank=r, world_size=w))` processes one shard, so a launcher can
run one task per GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from vjepa.checkpoints.checksums import metadata_with_checksums
from vjepa.checkpoints.errors import CheckpointError, WriteError
from vjepa.checkpoints.io import SAFETENSORS_SUFFIX, atomic_write, read_safetensors
from vjepa.data.decoders import DEFAULT_BACKEND, DecodeError, check_timeout
from vjepa.data.index import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    list_files,
    read_index_file,
    scan_folder,
)
from vjepa.distributed import read_env, select_device
from vjepa.eval.extract_fresh import FINGERPRINT_KEY, find_stale, fingerprint, refusal
from vjepa.features import Features, extract_features
from vjepa.pretrained import Pretrained, load_pretrained
from vjepa.runlock import LOCK_NAME, RunFolderLocked, folder_lock


@dataclass
class ExtractConfig:
    """Everything one extraction task needs (the CLI flags, one to one)."""

    checkpoint: str
    inputs: str  # an index file (`path label` lines) or a folder (searched recursively)
    out_dir: str
    which: str | None = None
    num_heads: int | None = None
    frames_per_clip: int | None = None
    frame_step: int | None = None
    stride: int | None = None
    pool: str = "none"
    layers: list[int] | None = None
    batch_size: int = 8
    device: str = "auto"  # auto | cpu | cuda | cuda:<i>
    backend: str = DEFAULT_BACKEND
    timeout_s: float | None = 60.0  # per file open and per batch's decode; past it: bad
    rank: int = 0
    world_size: int = 1
    progress: bool = True
    trust_pickle: bool = False
    overwrite: bool = False  # recompute files made with another checkpoint or other options
    extensions: list[str] = field(
        default_factory=lambda: sorted({e.lower() for e in (*VIDEO_EXTENSIONS,
                                                              *IMAGE_EXTENSIONS)}))


def list_inputs(inputs: str | Path, extensions: list[str]
                ) -> tuple[list[Path], dict[Path, int], Path]:
    """(sorted input files, their labels, the root they are named relative to) of an index
    file or a folder. In a folder, a file under `root/<class>/` gets its class's label as in
    training (`scan_folder`: classes in sorted name order); files directly in root get none."""
    inputs = Path(inputs)
    if inputs.is_dir():
        files = list_files(inputs, extensions)
        if not files:
            raise ValueError(f"no files with extensions {sorted({e.lower() for e in extensions})} "
                             f"under {inputs}")
        in_classes = [p for p in files if p.parent != inputs]
        samples = scan_folder(inputs, extensions)[0] if in_classes else []
        return files, {Path(s.path): s.label for s in samples}, inputs
    labels: dict[Path, int] = {}
    for sample in read_index_file(inputs):
        path = Path(sample.path)
        if labels.setdefault(path, sample.label) != sample.label:
            raise ValueError(f"index file {inputs} lists {path} with labels "
                             f"{labels[path]} and {sample.label}")
    if not labels:
        raise ValueError(f"index file {inputs} lists no files")
    files = sorted(labels)
    return files, labels, Path(os.path.commonpath([str(f.parent) for f in files]))


def output_path(file: Path, root: Path, out_dir: Path) -> Path:
    return out_dir / (str(file.relative_to(root)) + SAFETENSORS_SUFFIX)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _metadata(feats: Features, cfg: ExtractConfig, pre: Pretrained, source: Path,
              label: int | None, stamp: dict[str, Any]) -> dict[str, str]:
    times = None
    if feats.start_s is not None:
        times = [[s, e] for s, e in zip(feats.start_s.tolist(), feats.end_s.tolist(),
                                        strict=True)]
    config = {"extract": {k: v for k, v in asdict(cfg).items()
                          if k not in ("rank", "world_size", "progress", "extensions",
                                       "overwrite", "timeout_s")},
              "encoder": pre.arch.to_dict(), "preprocess": pre.preprocess.to_dict(),
              "layout": pre.layout, "which": pre.which}
    return {"source": str(source), "label": json.dumps(label),
            "window_times_s": json.dumps(times),
            "fps": json.dumps(feats.fps), "num_source_frames": json.dumps(feats.num_source_frames),
            "packets_not_output": json.dumps(feats.packets_not_output),
            "pool": feats.pool, "layers": json.dumps(feats.layers), "config": json.dumps(config),
            FINGERPRINT_KEY: json.dumps(stamp)}


def write_features(path: Path, feats: Features, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    tensors = {"features": feats.features.contiguous()}
    if feats.start_s is not None:
        tensors.update(start_s=feats.start_s, end_s=feats.end_s,
                       frame_indices=feats.frame_indices.contiguous())
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata_with_checksums(tensors, metadata))


def read_features(path: str | Path) -> tuple[Features, dict[str, Any]]:
    """A feature file back: (Features, {"source", "label", "config"})."""
    tensors, meta = read_safetensors(path)
    layers = json.loads(meta["layers"])
    feats = Features(tensors["features"], tensors.get("start_s"), tensors.get("end_s"),
                     tensors.get("frame_indices"), json.loads(meta["fps"]),
                     json.loads(meta["num_source_frames"]),
                     tuple(layers) if layers is not None else None, meta["pool"])
    return feats, {"source": meta["source"], "label": json.loads(meta["label"]),
                   "config": json.loads(meta["config"])}


def _one(file: Path, out: Path, label: int | None, pre: Pretrained, cfg: ExtractConfig,
         stamp: dict[str, Any], stale: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"input": str(file), "output": str(out), "label": label}
    if out.exists() and not stale:
        return {**entry, "status": "skipped"}
    if stale:
        entry["replaced"] = True  # made with another checkpoint or other options
    try:
        feats = extract_features(
            pre, file, frames_per_clip=cfg.frames_per_clip, frame_step=cfg.frame_step,
            stride=cfg.stride, pool=cfg.pool, layers=cfg.layers, batch_size=cfg.batch_size,
            backend=cfg.backend, timeout_s=cfg.timeout_s,
        )
    except DecodeError as error:  # reported in the manifest and skipped, by design
        return {**entry, "status": "bad", "reason": error.reason, "detail": error.detail}
    write_features(out, feats, _metadata(feats, cfg, pre, file, label, stamp))
    if feats.packets_not_output:  # reported, never silent: the features cover fewer frames
        entry["packets_not_output"] = feats.packets_not_output
        entry["num_source_frames"] = feats.num_source_frames
    return {**entry, "status": "done", "windows": int(feats.features.shape[0])}


def manifest_path(out_dir: Path, rank: int, world_size: int) -> Path:
    if world_size == 1:
        return out_dir / "manifest.json"
    return out_dir / f"manifest-rank{rank}-of-{world_size}.json"


def run_extract(cfg: ExtractConfig) -> dict[str, Any]:
    """Extract the shard `rank` of `world_size` of the inputs; returns the manifest."""
    if not 0 <= cfg.rank < cfg.world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank {cfg.rank}, "
                         f"world_size {cfg.world_size}")
    files, labels, root = list_inputs(cfg.inputs, cfg.extensions)
    out_dir = Path(cfg.out_dir)
    pre = load_pretrained(cfg.checkpoint, cfg.which, num_heads=cfg.num_heads,
                          frame_step=cfg.frame_step, trust_pickle=cfg.trust_pickle,
                          device=_device(cfg.device))
    with folder_lock(out_dir, "vjepa extract", lock_name(cfg.rank, cfg.world_size)):
        return _extract_shard(cfg, pre, files, labels, root, out_dir)


def lock_name(rank: int, world_size: int) -> str:
    """One lock per shard: the shards of one extraction share the folder."""
    return LOCK_NAME if world_size == 1 else f".vjepa-rank{rank}-of-{world_size}.lock"


def _extract_shard(cfg: ExtractConfig, pre: Pretrained, files: list[Path], labels: dict,
                   root: Path, out_dir: Path) -> dict[str, Any]:
    jobs = [(f, output_path(f, root, out_dir), labels.get(f))
            for f in files[cfg.rank :: cfg.world_size]]
    stamp = fingerprint(cfg.checkpoint, asdict(cfg))
    stale = find_stale(jobs, stamp)  # all checked before anything is written: never mixed
    if stale and not cfg.overwrite:
        raise refusal(out_dir, stale)
    entries = [
        _one(file, out, label, pre, cfg, stamp, out in stale)
        for file, out, label in tqdm(jobs, desc=f"extract [{cfg.rank}/{cfg.world_size}]",
                                     disable=not cfg.progress, unit="file")
    ]
    counts = {s: sum(e["status"] == s for e in entries) for s in ("done", "skipped", "bad")}
    counts["replaced"] = sum(bool(e.get("replaced")) and e["status"] == "done" for e in entries)
    manifest = {"checkpoint": cfg.checkpoint, FINGERPRINT_KEY: stamp, "inputs": cfg.inputs,
                "rank": cfg.rank, "world_size": cfg.world_size, "counts": counts,
                "files": entries}
    with atomic_write(manifest_path(out_dir, cfg.rank, cfg.world_size)) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def run_extract_job(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Launcher entry point (`vjepa.eval.extract:run_extract_job`, one call per task): the
    ExtractConfig fields as a mapping or DictConfig; rank, world size and GPU come from the
    task's environment (vjepa.distributed), so N tasks split the inputs N ways."""
    fields = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    env = read_env()
    device = select_device(env, fields.pop("device", "auto"))
    fields.update(rank=env.rank, world_size=env.world_size, device=str(device))
    return run_extract(ExtractConfig(**fields))


def _timeout(text: str) -> float | None:
    """--timeout-s: seconds, or 'none' for no bound (checked as extract_features checks it)."""
    try:
        value = None if text.lower() == "none" else float(text)
        check_timeout(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error} (seconds or 'none')") from None
    return value


def parse_args(argv: list[str] | None) -> ExtractConfig:
    p = argparse.ArgumentParser(prog="vjepa extract", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="official/training checkpoint or `vjepa export` folder")
    p.add_argument("inputs", help="index file (`path label` lines) or folder")
    p.add_argument("out_dir")
    p.add_argument("--which", choices=("target_encoder", "encoder"), default=None)
    p.add_argument("--num-heads", type=int, default=None)
    p.add_argument("--frames-per-clip", type=int, default=None)
    p.add_argument("--frame-step", type=int, default=None)
    p.add_argument("--stride", type=int, default=None, help="source frames between windows")
    p.add_argument("--pool", choices=("none", "mean"), default="none")
    p.add_argument("--layers", type=int, nargs="+", default=None)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto")
    p.add_argument("--backend", default=DEFAULT_BACKEND)
    p.add_argument("--timeout-s", type=_timeout, default=60.0,
                   help="longest wait (s) for opening a file and for each batch of windows; "
                        "past it the file is reported bad (reason timeout) and the rest go on; "
                        "'none': no bound (default 60)")
    p.add_argument("--rank", type=int, default=0)
    p.add_argument("--world-size", type=int, default=1)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--trust-pickle", action="store_true")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute existing files made with another checkpoint or other options "
                        "(default: refuse, so old and new features never mix)")
    return ExtractConfig(**vars(p.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        manifest = run_extract(cfg)
    except (CheckpointError, ValueError, RunFolderLocked, WriteError) as error:  # exit 2
        print(f"vjepa extract: {error}\n(usage: vjepa extract CHECKPOINT INPUTS OUT_DIR)",
              file=sys.stderr)
        return 2
    counts = manifest["counts"]
    where = manifest_path(Path(cfg.out_dir), cfg.rank, cfg.world_size)
    replaced = f" ({counts['replaced']} replacing stale files)" if counts["replaced"] else ""
    print(f"extracted {counts['done']}{replaced}, skipped {counts['skipped']} already done, "
          f"{counts['bad']} bad; manifest {where}")
    for entry in manifest["files"]:
        if entry["status"] == "bad":
            print(f"  bad ({entry['reason']}): {entry['input']} {entry['detail']}")
        elif entry.get("packets_not_output"):
            print(f"  partial: {entry['input']}: features of its {entry['num_source_frames']} "
                  f"decodable frames; {entry['packets_not_output']} video packets are not "
                  "output by a sequential decode (a cut inside a GOP, an edit list, or "
                  "damage)")
    return 0
