"""Time one V-JEPA training step (forward + backward + clip + AdamW + EMA) per batch size.

Model, masks, optimizer, schedules, clipping and autocast dtype are those of a published recipe,
built by the training builder (vjepa.train.build); default vjepa_vitl16 (ViT-L/16, 16x224x224,
tubelet 2, predictor 12 x 384, mask configurations 8 x 0.15 and 2 x 0.7, bf16):

    python benchmarks/bench_train_step.py --batch-sizes 8 16 24 [--compile]

CPU check (tiny recipe): python benchmarks/bench_train_step.py --device cpu --recipe vjepa_tiny
Any recipe key can be overridden: --set model.num_frames=8 optim.dtype=float32

Prints one JSON document (card, torch version, command, per batch size: step ms, clips/s, peak
memory, mask-drawing ms) and writes it to $OUT/bench_train_step.json when OUT is set. Needs Hydra
(the recipe) but no data, submitit or decoders.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator
from vjepa.train.build import build_core, build_optim
from vjepa.train.hydra_config import load_recipe
from vjepa.train.optim import apply_schedule
from vjepa.train.step import optimizer_step


def build(recipe: str, overrides: list[str], device: torch.device
          ) -> tuple[JEPA, MaskCollator, tuple[int, ...], Any]:
    """The recipe's JEPA (on `device`), mask collator, clip shape (C, T, H, W) and config."""
    cfg = load_recipe(recipe, overrides)
    model, collator = build_core(cfg)
    m = cfg.model
    shape = (3, m.num_frames, m.crop_size, m.crop_size)
    return model.to(device), collator, shape, cfg


def time_batch(model: JEPA, forward: torch.nn.Module, collator: MaskCollator,
               shape: tuple[int, ...], batch: int, args: argparse.Namespace,
               device: torch.device) -> dict:
    o = args.cfg.optim
    opt, sched = build_optim(model, o, o.ipe or 300)
    x = torch.randn(batch, args.cfg.data.num_clips, *shape, device=device)
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
                       args.dtype, o.clip_grad, sched.momentum(s))
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
    parser.add_argument("--recipe", default="vjepa_vitl16", help="configs/experiment/ name")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="recipe overrides, as on the `vjepa train` command line")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 24])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dtype", default=None, choices=["bfloat16", "float32"],
                        help="autocast dtype (default: the recipe's optim.dtype)")
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
    model, collator, shape, args.cfg = build(args.recipe, args.set, device)
    args.dtype = args.dtype or args.cfg.optim.dtype
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
        "recipe": args.recipe, "overrides": args.set, "input": list(shape), "dtype": args.dtype,
        "compile": args.compile,
        "steps": args.steps, "warmup": args.warmup, "results": results,
    }
    print(json.dumps(report, indent=1))
    if os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "bench_train_step.json"
        out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
