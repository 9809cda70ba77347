"""Time one V-JEPA training step (forward + backward + clip + AdamW + EMA) per batch size.

GPU (the published recipe's model, ViT-L/16, 16x224x224, tubelet 2, predictor 12 x 384, the two
mask configurations 8 x 0.15 and 2 x 0.7, bf16 autocast):

    python benchmarks/bench_train_step.py --batch-sizes 8 16 24 [--compile]

CPU check (tiny model): python benchmarks/bench_train_step.py --device cpu --size tiny

Prints one JSON document (card, torch version, command, per batch size: step ms, clips/s, peak
memory, mask-drawing ms) and writes it to $OUT/bench_train_step.json when OUT is set. Imports
only the model, mask, JEPA and optimizer/schedule modules (no Hydra, submitit or decoders).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator
from vjepa.masks.multiblock3d import MultiBlock3D
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer, vit_size
from vjepa.train.optim import apply_schedule, build_optimizer
from vjepa.train.schedules import make_schedules
from vjepa.train.step import optimizer_step

# (crop, patch, frames, encoder dims (width, depth, heads, mlp), predictor (width, depth))
SIZES = {
    "large": (224, 16, 16, None, (384, 12)),
    "tiny": (64, 8, 8, (96, 4, 4, 4.0), (64, 2)),
}


def build(size: str, device: torch.device) -> tuple[JEPA, MaskCollator, tuple[int, ...]]:
    crop, patch, frames, enc, (pdim, pdepth) = SIZES[size]
    if enc is None:
        s = vit_size(size)
        enc = (s.embed_dim, s.depth, s.num_heads, s.mlp_ratio)
    dim, depth, heads, mlp = enc
    geo = dict(img_size=crop, patch_size=patch, num_frames=frames, tubelet_size=2,
               uniform_power=True)
    encoder = VisionTransformer(**geo, embed_dim=dim, depth=depth, num_heads=heads,
                                mlp_ratio=mlp)
    predictor = Predictor(**geo, embed_dim=dim, predictor_embed_dim=pdim, depth=pdepth,
                          num_heads=heads, mlp_ratio=mlp, num_mask_tokens=2)
    grid = encoder.tokens.grid
    collator = MaskCollator([MultiBlock3D(grid, 8, (0.15, 0.15)),
                             MultiBlock3D(grid, 2, (0.7, 0.7))], seed=0)
    return JEPA(encoder, predictor, "l1").to(device), collator, (3, frames, crop, crop)


def time_batch(model: JEPA, forward: torch.nn.Module, collator: MaskCollator,
               shape: tuple[int, ...], batch: int, args: argparse.Namespace,
               device: torch.device) -> dict:
    opt = build_optimizer({"encoder": model.encoder, "predictor": model.predictor})
    sched = make_schedules(300, 300, 1.25, 40, 2e-4, 6.25e-4, 1e-6, 0.04, 0.4, (0.998, 1.0))
    x = torch.randn(batch, 1, *shape, device=device)
    t0 = time.perf_counter()
    masks = [collator.masks(s, batch) for s in range(args.warmup + args.steps)]
    mask_ms = (time.perf_counter() - t0) * 1e3 / len(masks)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for s, (enc, pred) in enumerate(masks):
        if s == args.warmup:
            sync(device)
            start = time.perf_counter()
        apply_schedule(opt, sched.lr(s), sched.wd(s))
        optimizer_step(model, forward, [({"video": x}, enc, pred)], opt, None, device,
                       args.dtype, 10.0, sched.momentum(s))
    sync(device)
    step_ms = (time.perf_counter() - start) * 1e3 / args.steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"batch_size": batch, "step_ms": round(step_ms, 2),
            "clips_per_s": round(batch * 1e3 / step_ms, 2),
            "peak_mem_gib": round(peak, 2) if peak is not None else None,
            "mask_ms": round(mask_ms, 2)}


def write_profile(model: JEPA, forward: torch.nn.Module, collator: MaskCollator,
                  shape: tuple[int, ...], args: argparse.Namespace, device: torch.device) -> None:
    """Operator table (CPU and CUDA time) of 3 steps at the last batch size."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    quick = argparse.Namespace(**{**vars(args), "steps": 3, "warmup": 1})
    with torch.profiler.profile(activities=activities) as prof:
        time_batch(model, forward, collator, shape, args.batch_sizes[-1], quick, device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=key, row_limit=40)
    if os.environ.get("OUT"):
        (Path(os.environ["OUT"]) / "bench_train_step_profile.txt").write_text(table)
    else:
        print(table, file=sys.stderr)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--size", default="large", choices=sorted(SIZES))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 24])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the JEPA forward")
    parser.add_argument("--profile", action="store_true",
                        help="also write a torch.profiler table of 3 steps of the last batch "
                             "size ($OUT/bench_train_step_profile.txt, else stderr)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available (use --device cpu)")
    device = torch.device(args.device)
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model, collator, shape = build(args.size, device)
    forward = torch.compile(model) if args.compile else model
    results = []
    for batch in args.batch_sizes:
        try:
            results.append(time_batch(model, forward, collator, shape, batch, args, device))
        except torch.cuda.OutOfMemoryError:  # reported as such, the next size still runs
            results.append({"batch_size": batch, "oom": True})
            torch.cuda.empty_cache()
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    if args.profile:
        write_profile(model, forward, collator, shape, args, device)
    report = {
        "card": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "size": args.size, "input": list(shape), "dtype": args.dtype, "compile": args.compile,
        "steps": args.steps, "warmup": args.warmup, "results": results,
    }
    print(json.dumps(report, indent=1))
    if os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "bench_train_step.json"
        out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
