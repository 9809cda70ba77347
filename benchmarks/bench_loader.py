#!/usr/bin/env python
"""Video loader benchmark: clips/s end to end (open, decode, crop, resize, normalise, collate
with masks), per backend, against a reimplementation of the official V-JEPA loader path.

Files come from ``make_synthetic_videos`` (x264 ``veryfast``, 25 fps):
    240p: 320x240, 300 frames, keyframe every 250 frames
    256p: 340x256, 250 frames (10 s, Kinetics-typical short side), keyframe every 50

Pipelines (16 frames at step 4, 224x224 output, V-JEPA vitl16 augmentation: scale 0.3-1.0,
aspect 0.75-1.35, flip; batches of 8 collated with two 3D multi-block mask generators):
    official     decord VideoReader(num_threads=-1, i.e. automatic), get_batch, then per clip:
                 whole clip to float32, crop, bilinear resize in float, flip, normalise
    vjepa-<b>    vjepa.data.VideoDataset with backend <b>, 1 decoder thread: crop as a view,
                 flip folded into the channels-last copy, uint8 antialiased resize, fused
                 normalisation into [C, T, H, W]
    vjepa-pyav-u8  same, returning uint8 (normalisation left to the GPU: normalize_batch)
    decode-<b>   decoding the same clips only, for reference

"1 core" runs pin the process to one CPU (``sched_setaffinity``) with one torch thread;
"2 workers" runs a DataLoader with 2 worker processes on ``--loader-cpus`` CPUs (2).
``--gpu`` also times normalising the uint8 batches on CUDA (``normalize_batch``).

Example:
    python benchmarks/bench_loader.py --data /tmp/vjepa_bench --clips 64 --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vjepa.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VIDEO_RATIO,
    available_backends,
    build_dataset,
    collate_samples,
    make_synthetic_videos,
    open_video,
    read_index_file,
)
from vjepa.data.transforms import random_resized_crop_params

FILE_SETS = {
    "240p": {"size": 240, "width": 320, "num_frames": 300, "gop": 250},
    "256p": {"size": 256, "width": 340, "num_frames": 250, "gop": 50},
}
FRAMES, STEP, CROP, BATCH = 16, 4, 224, 8


class OfficialStylePipeline(torch.utils.data.Dataset):
    """The official loader's path as described in its code: decord with automatic threads,
    random window, ``get_batch``, then the clip converted to float32 before crop/resize."""

    def __init__(self, paths: list[str], seed: int = 0) -> None:
        self.paths = paths
        self.seed = seed
        self.mean = torch.tensor(IMAGENET_MEAN) * 255.0
        self.std = torch.tensor(IMAGENET_STD) * 255.0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        import decord

        rng = np.random.default_rng([self.seed, index])
        reader = decord.VideoReader(self.paths[index], num_threads=-1, ctx=decord.cpu(0))
        clip_len = FRAMES * STEP
        end = int(rng.integers(clip_len, len(reader))) if len(reader) > clip_len else clip_len
        indices = np.clip(np.linspace(end - clip_len, end, FRAMES), end - clip_len, end - 1)
        buffer = reader.get_batch(indices.astype(np.int64).tolist()).asnumpy()
        clip = torch.tensor(buffer, dtype=torch.float32).permute(3, 0, 1, 2)  # [C, T, H, W]
        g = torch.Generator().manual_seed(int(rng.integers(2**62)))
        top, left, h, w = random_resized_crop_params(clip.shape[2], clip.shape[3], (0.3, 1.0),
                                                     VIDEO_RATIO, g)
        clip = F.interpolate(clip[:, :, top : top + h, left : left + w], size=(CROP, CROP),
                             mode="bilinear", align_corners=False)
        if rng.random() < 0.5:
            clip = clip.flip(-1)
        channels, frames, height, width = clip.shape
        flat = clip.reshape(channels, -1).permute(1, 0)
        flat = (flat - self.mean) / self.std
        clip = flat.permute(1, 0).reshape(channels, frames, height, width)
        return {"video": clip.unsqueeze(0), "label": 0, "index": index,
                "clip_indices": torch.from_numpy(indices.astype(np.int64))[None], "bad": []}


def mask_collator() -> Callable[[list[dict]], dict]:
    """collate_samples plus the masks of a V-JEPA step (two 3D multi-block generators)."""
    from vjepa.seeding import generator_for
    from vjepa.train.build import mask_generators
    from vjepa.train.config import MaskConfig

    grid = (FRAMES // 2, CROP // 16, CROP // 16)
    generators = mask_generators(MaskConfig(), grid)  # the V-JEPA recipes' two configurations
    state = {"step": 0}

    def collate(batch: list[dict]) -> dict:
        out = collate_samples(batch)
        state["step"] += 1
        out["masks"] = [gen(len(batch), generator_for(0, state["step"], i))
                        for i, gen in enumerate(generators)]
        return out

    return collate


def ours(index: Path, backend: str, normalize: bool = True) -> torch.utils.data.Dataset:
    return build_dataset("video", [index], crop_size=CROP, frames_per_clip=FRAMES,
                         frame_step=STEP, backend=backend, num_threads=1, normalize=normalize)


class DecodeOnly(torch.utils.data.Dataset):
    def __init__(self, paths: list[str], backend: str) -> None:
        self.paths, self.backend = paths, backend

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([0, index])
        with open_video(self.paths[index], backend=self.backend) as reader:
            start = int(rng.integers(0, len(reader) - FRAMES * STEP))
            return reader.get_batch(list(range(start, start + FRAMES * STEP, STEP)))


def clips_per_second_inline(dataset: torch.utils.data.Dataset, clips: int,
                            collate: Callable | None) -> tuple[float, float]:
    """Single process: ``clips`` items, collated in batches of BATCH (after one warm-up).

    Returns:
        (clips per wall-clock second, clips per CPU-second of this process, all its threads
        included). On a shared machine the second is the steadier measure of per-core speed.
    """
    n = len(dataset)
    order = [(k * 7) % n for k in range(clips + BATCH)]
    batch = [dataset[i] for i in order[:BATCH]]  # warm-up: imports, first opens
    if collate is not None:
        collate(batch)
    start, cpu_start = time.perf_counter(), time.process_time()
    for k in range(BATCH, clips + BATCH, BATCH):
        batch = [dataset[i] for i in order[k : k + BATCH]]
        if collate is not None:
            collate(batch)
    return (clips / (time.perf_counter() - start), clips / (time.process_time() - cpu_start))


def clips_per_second_loader(dataset: torch.utils.data.Dataset, clips: int, workers: int,
                            collate: Callable) -> tuple[float, float]:
    """DataLoader with ``workers`` processes.

    Returns:
        (clips per wall-clock second in steady state, the batches made during worker start-up
        and prefetching (``2 * workers + 1``) not timed; clips per CPU-second over the whole
        run, workers and main process together, from ``getrusage`` once the workers exit).
    """
    skip = 2 * workers + 1
    clips = max(clips, 8 * BATCH)  # enough timed batches to be past the prefetched ones
    total = clips + skip * BATCH
    indices = [k % len(dataset) for k in range(total)]
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices),
                                         batch_size=BATCH, num_workers=workers,
                                         collate_fn=collate, prefetch_factor=2)
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    iterator = iter(loader)
    for _ in range(skip):
        next(iterator)
    start, seen = time.perf_counter(), 0
    for batch in iterator:
        seen += len(batch["label"])
    wall = seen / (time.perf_counter() - start)
    del iterator  # joins the workers, so their CPU time is in RUSAGE_CHILDREN
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, usage,
                                                                                 strict=True))
    return wall, total / cpu


def gpu_normalize(index: Path) -> dict[str, float]:
    """uint8 batches from the loader, normalised on the GPU: time and agreement with the CPU."""
    from vjepa.data import normalize_batch, normalize_clip

    dataset = ours(index, "pyav", normalize=False)
    video = collate_samples([dataset[i % len(dataset)] for i in range(BATCH)])["video"]
    reference = torch.stack([normalize_clip(v[0].permute(1, 0, 2, 3))[None] for v in video])
    device = torch.device("cuda")
    pinned = video.pin_memory()
    normalize_batch(pinned.to(device))
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        out = normalize_batch(pinned.to(device, non_blocking=True))
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / 20
    cpu_start = time.perf_counter()
    for v in video:
        normalize_clip(v[0].permute(1, 0, 2, 3))
    cpu_seconds = time.perf_counter() - cpu_start
    return {"gpu ms per batch (copy + normalise)": 1000 * seconds,
            "cpu ms per batch (normalise, 1 thread)": 1000 * cpu_seconds,
            "max abs diff vs cpu": float((out.cpu() - reference).abs().max())}


def build_files(root: Path, num_videos: int) -> dict[str, Path]:
    return {name: make_synthetic_videos(root / name, num_videos=num_videos, num_classes=8,
                                        seed=0, num_workers=max(1, os.cpu_count() or 1),
                                        preset="veryfast", **spec)
            for name, spec in FILE_SETS.items()}


def pin(cpus: set[int]) -> bool:
    """Restrict this process (and workers it starts) to ``cpus``; False where the system
    refuses (the figures are then marked unpinned in the output)."""
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as error:
        print(f"warning: cannot pin to CPUs {sorted(cpus)}: {error}", flush=True)
        return False
    return os.sched_getaffinity(0) == cpus


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/vjepa_bench"),
                        help="cache folder for the generated files")
    parser.add_argument("--videos", type=int, default=16, help="files per set")
    parser.add_argument("--clips", type=int, default=64, help="timed clips per measurement")
    parser.add_argument("--sets", nargs="*", default=list(FILE_SETS), choices=list(FILE_SETS))
    parser.add_argument("--repeats", type=int, default=3, help="interleaved trials (median)")
    parser.add_argument("--no-loader", action="store_true", help="skip the 2-worker runs")
    parser.add_argument("--decode-only", action="store_true",
                        help="only the decode-only rows (compare backends)")
    parser.add_argument("--loader-cpus", type=int, default=2,
                        help="CPUs the 2-worker DataLoader runs may use")
    parser.add_argument("--gpu", action="store_true", help="also time normalize_batch on CUDA")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)

    indexes = build_files(args.data, args.videos)
    backends = [b for b in ("pyav", "decord", "torchcodec") if b in available_backends()]
    collate = mask_collator()
    results: dict[str, dict[str, float]] = {}
    cpus = sorted(os.sched_getaffinity(0))
    for name in args.sets:
        index = indexes[name]
        paths = [s.path for s in read_index_file(index)]
        one_core: dict[str, torch.utils.data.Dataset] = {}
        if not args.decode_only:
            one_core["official"] = OfficialStylePipeline(paths)
            one_core |= {f"vjepa-{b}": ours(index, b) for b in backends}
            one_core["vjepa-pyav-u8"] = ours(index, "pyav", normalize=False)
        one_core |= {f"decode-{b}": DecodeOnly(paths, b) for b in backends}
        row: dict[str, float] = {}
        pinned = pin({cpus[0]})
        torch.set_num_threads(1)
        trials: dict[str, list[tuple[float, float]]] = {label: [] for label in one_core}
        for _ in range(args.repeats):  # interleaved, so load from elsewhere hits all alike
            for label, dataset in one_core.items():
                use = None if label.startswith("decode") else collate
                trials[label].append(clips_per_second_inline(dataset, args.clips, use))
        for label, values in trials.items():
            wall = float(np.median([v[0] for v in values]))
            cpu = float(np.median([v[1] for v in values]))
            row[f"{label} 1 core"] = wall
            row[f"{label} per CPU-second"] = cpu
            print(f"{name} {label:16s} 1 core    {wall:7.1f} clips/s wall, {cpu:7.1f} per "
                  f"CPU-second (trials {', '.join(f'{w:.1f}/{c:.1f}' for w, c in values)})",
                  flush=True)
        pinned &= pin(set(cpus[: args.loader_cpus]))
        if not (args.no_loader or args.decode_only):
            for label in ("official", "vjepa-pyav", "vjepa-decord"):
                if label in one_core:
                    wall, cpu = clips_per_second_loader(one_core[label], args.clips, 2, collate)
                    row[f"{label} 2 workers"] = wall
                    row[f"{label} 2 workers per CPU-second"] = cpu
                    print(f"{name} {label:16s} 2 workers {wall:7.1f} clips/s wall, {cpu:7.1f} "
                          "per CPU-second", flush=True)
        pin(set(cpus))
        row["pinned"] = float(pinned)
        if args.gpu:
            row |= gpu_normalize(index)
            print(name, {k: round(v, 4) for k, v in row.items() if "gpu" in k or "diff" in k})
        results[name] = row
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpus": len(cpus), "cpu_model": cpu_model(), "python": platform.python_version(),
            "torch": torch.__version__,
            "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])])}
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
