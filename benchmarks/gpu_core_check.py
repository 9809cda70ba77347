"""GPU check of the JEPA core: CUDA vs CPU agreement and a V-JEPA ViT-L/16 train-step timing.

The ViT-L/16 model and masks are those of the vjepa_vitl16 recipe, built by the training builder
(needs torch, timm and Hydra; no submitit, decord or av). Writes JSON to $OUT/gpu_core_check.json
when OUT is set.

    python benchmarks/gpu_core_check.py --batches 8 16 24 --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator
from vjepa.smoke import tiny_jepa
from vjepa.train.build import build_core
from vjepa.train.hydra_config import load_recipe


def agreement(device: str) -> dict:
    """Max abs difference of a tiny V-JEPA loss and encoder output, CUDA fp32 vs CPU fp64."""
    torch.manual_seed(0)
    model, coll = tiny_jepa(4)
    x = torch.randn(2, 3, 4, 64, 64)
    enc, pred = coll.masks(0, 2)
    ref = model.double()(x.double(), enc, pred).loss.item()
    feats_ref = model.encoder(x.double())
    model = model.float().to(device)
    dev = lambda ms: [[m.to(device) for m in g] for g in ms]  # noqa: E731
    with torch.no_grad():
        got = model(x.to(device), dev(enc), dev(pred)).loss.item()
        feats = model.encoder(x.to(device)).double().cpu()
    return {"loss_fp64_cpu": ref, "loss_fp32_cuda": got,
            "encoder_max_abs_diff": (feats - feats_ref).abs().max().item()}


def vitl16_vjepa(device: str) -> tuple[JEPA, MaskCollator]:
    model, coll = build_core(load_recipe("vjepa_vitl16"))
    return model.to(device), coll


def time_steps(model: JEPA, coll: MaskCollator, batch: int, steps: int, device: str) -> dict:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
    x = torch.randn(batch, 3, 16, 224, 224, device=device)
    masks = [coll.masks(s, batch) for s in range(steps + 3)]
    masks = [tuple([[m.to(device) for m in g] for g in ms] for ms in pair) for pair in masks]
    torch.cuda.reset_peak_memory_stats()
    times = []
    for s, (enc, pred) in enumerate(masks):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(x, enc, pred).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        model.update_target(0.998)
        torch.cuda.synchronize()
        if s >= 3:
            times.append(time.perf_counter() - t0)
    ms = 1000 * sorted(times)[len(times) // 2]
    return {"batch": batch, "median_step_ms": round(ms, 1),
            "clips_per_s": round(batch / (ms / 1000), 2),
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "loss": loss.item()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 16, 24])
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    device = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False
    out = {"card": torch.cuda.get_device_name(), "torch": torch.__version__,
           "command": " ".join(["python", *sys.argv]), "agreement": agreement(device)}
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model, coll = vitl16_vjepa(device)
    runs = [time_steps(model, coll, b, args.steps, device) for b in args.batches]
    out["vitl16_vjepa_bf16"] = runs
    print(json.dumps(out, indent=1))
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu_core_check.json"), "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
