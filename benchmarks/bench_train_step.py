"""Time the training step of a recipe (forward + backward + clip + AdamW + EMA), per speed
variant, and the official step side by side in the same process.

The step is built from the recipe through the training builder (vjepa.train.build, speed
levers by vjepa.train.speed) and run by the `optimizer_step` that `vjepa train` runs; the
official facebookresearch/jepa (video) or /ijepa (images) step is built from a checkout
(`--official DIR`, see official_step.py) with the same widths, input batch, masks and dtype.

    python benchmarks/bench_train_step.py --recipe vjepa_vitl16 --variants plain fast \\
        --official /path/to/jepa
    python benchmarks/bench_train_step.py --device cpu --size tiny --variants plain fast

One JSON line per row on stdout (ms/step median of the timed steps after warm-up, measured
with CUDA events; throughput; TFLOP/step by torch's flop counter; TFLOP/s; MFU against the
card's bf16 dense peak; peak memory; token counts; card, torch, commit; `vs_official` = official
ms / our ms); also written to $OUT/bench_train_step.jsonl when OUT is set. Needs neither Hydra,
OmegaConf, submitit nor a video decoder (the GPU machine has none of them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import official_step  # noqa: E402

from vjepa.provenance import git_commit  # noqa: E402
from vjepa.train import speed as speed_mod  # noqa: E402
from vjepa.train.build import build_core, build_optim  # noqa: E402
from vjepa.train.optim import apply_schedule  # noqa: E402
from vjepa.train.recipe_yaml import load_recipe_plain  # noqa: E402
from vjepa.train.step import optimizer_step  # noqa: E402
from vjepa.train.throughput import StepFlops, mask_shapes, peak_tflops  # noqa: E402

TINY = {  # --size tiny: the recipe's structure (masks, loss, dtype) on a CPU-sized model
    "video": ["model.embed_dim=96", "model.depth=2", "model.num_heads=4", "model.crop_size=64",
              "model.patch_size=8", "model.num_frames=8", "model.pred_depth=2",
              "model.pred_embed_dim=64"],
    "image": ["model.embed_dim=96", "model.depth=2", "model.num_heads=4", "model.crop_size=112",
              "model.patch_size=8", "model.pred_depth=2", "model.pred_embed_dim=64"],
}
VARIANTS = {  # name -> speed section (a key left out = `auto`, the device's default)
    "plain": {"fused_adamw": "off", "compile": "off", "pack": "off"},
    "fused": {"fused_adamw": "on", "compile": "off", "pack": "off"},
    "pack": {"fused_adamw": "off", "compile": "off", "pack": "predictor"},
    "pad": {"fused_adamw": "off", "compile": "off", "pack": "pad"},
    "compile": {"fused_adamw": "off", "compile": "blocks", "pack": "off"},
    "ckpt": {"activation_checkpointing": True},
    "fast": {},  # all auto: fused + compile + predictor packing on CUDA
}


def load(args: argparse.Namespace) -> Any:
    cfg = load_recipe_plain(args.recipe, args.set)
    if args.size == "tiny":
        kind = "video" if cfg.model.num_frames > 1 else "image"
        cfg = load_recipe_plain(args.recipe, [*TINY[kind], *args.set])
    return cfg


def draw_inputs(cfg: Any, batch: int, steps: int, device: torch.device
                ) -> tuple[torch.Tensor, list]:
    """One input batch on the device and the recipe's masks of `steps` steps (CPU)."""
    _, collator = build_core(cfg)
    m = cfg.model
    shape = (batch, 3, m.num_frames, m.crop_size, m.crop_size) if m.num_frames > 1 else (
        batch, 3, m.crop_size, m.crop_size)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device)
    return x, [collator.masks(s, batch) for s in range(steps)]


def on_device(masks: list, device: torch.device) -> list:
    return [[m.to(device, non_blocking=True) for m in grp] for grp in masks]


def ours(cfg: Any, variant: str, device: torch.device, dtype: str
         ) -> tuple[Callable, Any, str]:
    """Our step for a speed variant, as (step(x, enc, pred, s), model, levers)."""
    torch.manual_seed(0)
    model, _ = build_core(cfg)
    model = model.to(device)
    levers = speed_mod.resolve(_section(VARIANTS[variant]), device)
    speed_mod.apply(model, levers)
    o = cfg.optim
    opt, sched = build_optim(model, o, o.ipe or 300, levers.fused_adamw)

    def step(x: torch.Tensor, enc: list, pred: list, s: int) -> None:
        apply_schedule(opt, sched.lr(s), sched.wd(s))
        optimizer_step(model, model, [({"video": x[:, None]}, enc, pred)], opt, None, device,
                       dtype, o.clip_grad, sched.momentum(s))
    return step, model, levers.describe()


def _section(values: dict) -> Any:
    return type("Speed", (), {k: values.get(k) for k in
                              ("fused_adamw", "compile", "activation_checkpointing", "pack")})


def time_steps(step: Callable, x: torch.Tensor, masks: list, warmup: int,
               device: torch.device) -> tuple[list[float], float | None]:
    """Per-step milliseconds of the steps after `warmup` (CUDA events: no sync between
    steps), and the peak memory in GiB."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    marks = []
    for s, (enc, pred) in enumerate(masks):
        enc, pred = on_device(enc, device), on_device(pred, device)
        if s >= warmup:
            marks.append(_mark(cuda))
        step(x, enc, pred, s)
    marks.append(_mark(cuda))
    if cuda:
        torch.cuda.synchronize(device)
        ms = [a.elapsed_time(b) for a, b in zip(marks, marks[1:], strict=False)]
        return ms, torch.cuda.max_memory_allocated(device) / 2**30
    return [(b - a) * 1e3 for a, b in zip(marks, marks[1:], strict=False)], None


def _mark(cuda: bool) -> Any:
    if not cuda:
        return time.perf_counter()
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    return event


def row(impl: str, variant: str, levers: str, ms: list[float], peak: float | None,
        flops: float, batch: int, masks: list, meta: dict) -> dict:
    median = statistics.median(ms)
    enc, pred = masks[0]
    tflops = flops / median / 1e9
    peak_flops = meta["peak_tflops"]
    return {"impl": impl, "variant": variant, "levers": levers, "batch_size": batch,
            "ms_step": round(median, 2), "ms_min": round(min(ms), 2),
            "ms_max": round(max(ms), 2), "timed_steps": len(ms),
            "samples_per_s": round(batch * 1e3 / median, 2),
            "tflop_step": float(f"{flops / 1e12:.4g}"), "tflops": float(f"{tflops:.4g}"),
            "mfu": float(f"{tflops / peak_flops:.4g}") if peak_flops is not None else None,
            "peak_mem_gib": round(peak, 2) if peak is not None else None,
            "context_tokens": [g[0].shape[1] for g in enc],
            "target_tokens": [g[0].shape[1] for g in pred], **meta}


def write_profile(step: Callable, x: torch.Tensor, masks: list, device: torch.device,
                  variant: str) -> None:
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        time_steps(step, x, masks, 0, device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=key, row_limit=40)
    if os.environ.get("OUT"):
        (Path(os.environ["OUT"]) / f"profile_{variant}.txt").write_text(table)
    else:
        print(table, file=sys.stderr)


def mean_flops(model: Any, x: torch.Tensor, masks: list) -> float:
    """FLOPs of the math (per-group path) averaged over the timed steps' masks."""
    count = StepFlops(model)
    return statistics.mean(count(tuple(x.shape), model.encoder.num_patches, mask_shapes(e),
                                 mask_shapes(p)) for e, p in masks)


def commit() -> str:
    """The checkout's commit (-dirty when changed), as a run folder's version.txt has it."""
    return git_commit(Path(__file__).resolve().parent) or "unknown"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--recipe", default="vjepa_vitl16", help="configs/experiment/ name")
    parser.add_argument("--size", default="recipe", choices=["recipe", "tiny"])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="recipe overrides, as on the `vjepa train` command line")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                        help="default: the recipe's data.batch_size")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--dtype", default=None, choices=["bfloat16", "float32"],
                        help="autocast dtype (default: the recipe's optim.dtype)")
    parser.add_argument("--variants", nargs="+", default=["plain", "fast"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--profile", action="store_true",
                        help="also write a torch.profiler table (CPU and CUDA time per op) of "
                             "3 steps of each variant to $OUT/profile_<variant>.txt (else "
                             "stderr)")
    parser.add_argument("--official", nargs="*", default=[], metavar="DIR",
                        help="checkouts of facebookresearch/jepa (video recipes) or /ijepa "
                             "(image recipes) to time side by side")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda but CUDA is not available (use --device cpu)")
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    cfg = load(args)
    dtype = args.dtype or str(cfg.optim.dtype)
    meta = {"recipe": args.recipe, "size": args.size, "dtype": dtype,
            "card": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "peak_tflops": None if math.isnan(peak_tflops(device)) else peak_tflops(device),
            "torch": torch.__version__, "commit": commit()}
    out = Path(os.environ["OUT"]) / "bench_train_step.jsonl" if os.environ.get("OUT") else None
    for batch in args.batch_sizes or [cfg.data.batch_size]:
        for line in rows_for_batch(cfg, batch, args, device, dtype, meta):
            text = json.dumps(line)
            print(text, flush=True)
            if out is not None:
                with open(out, "a") as f:
                    f.write(text + "\n")
    return 0


def rows_for_batch(cfg: Any, batch: int, args: argparse.Namespace, device: torch.device,
                   dtype: str, meta: dict) -> list[dict]:
    x, masks = draw_inputs(cfg, batch, args.warmup + args.steps, device)
    video = cfg.model.num_frames > 1
    results: list[dict] = []
    official_ms = None
    for root in args.official:
        build = official_step.vjepa_step if video else official_step.ijepa_step
        model, _ = build_core(cfg)
        step = build(Path(root), model.to(device), cfg, device, dtype)
        ms, peak = time_steps(lambda a, e, p, _s, f=step: f(a, e, p), x, masks, args.warmup,
                              device)
        flops = mean_flops(model, x, masks[args.warmup:])
        results.append(row(f"official:{Path(root).name}", "official", "", ms, peak, flops,
                           batch, masks, meta))
        official_ms = results[-1]["ms_step"]
        del model, step
    for variant in args.variants:
        step, model, levers = ours(cfg, variant, device, dtype)
        ms, peak = time_steps(step, x, masks, args.warmup, device)
        if args.profile:
            write_profile(step, x, masks[-3:], device, variant)
        flops = mean_flops(model, x, masks[args.warmup:])
        results.append(row("vjepa", variant, levers, ms, peak, flops, batch, masks, meta))
        if official_ms is not None:
            results[-1]["vs_official"] = round(official_ms / results[-1]["ms_step"], 3)
        del model, step
    return results


if __name__ == "__main__":
    sys.exit(main())
