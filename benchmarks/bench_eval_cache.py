"""Feature cache speed-up of `vjepa eval` on the bundled synthetic motion videos.

Runs the `video_tiny` recipe twice on the same random-init tiny V-JEPA encoder: with the
feature cache (fixed views encoded once into safetensors shards, every epoch and head trained
from them) and without it (the official way: the frozen forward on every training batch of
every epoch and on the held-out / test sets at every evaluation). Prints the card, the command,
both wall times, the speed-up and whether both runs gave the same metrics (they should: the
views are fixed and the batch order is the same).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_eval_cache.py --epochs 10
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from vjepa.eval.main import compose, run
from vjepa.models.vit import VisionTransformer


def encoder_file(folder: Path) -> Path:
    torch.manual_seed(0)
    model = VisionTransformer(img_size=64, patch_size=8, num_frames=8, tubelet_size=2,
                              embed_dim=96, depth=4, num_heads=4, uniform_power=True)
    path = folder / "random_tiny_vjepa.pt"
    torch.save(model.state_dict(), path)
    return path


def timed(overrides: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    results = run(compose(overrides))
    return time.perf_counter() - start, results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = encoder_file(Path(tmp))
        base = ["experiment=video_tiny", f"checkpoint={ckpt}", "encoder_heads=4",
                f"optim.epochs={args.epochs}", "progress=false"]
        compose(base)  # the synthetic sets are made by the first run: warm them up here
        timed([*base, f"run_dir={tmp}/warm", "optim.epochs=1"])
        cached, a = timed([*base, f"run_dir={tmp}/cached", "cache_features=true"])
        streamed, b = timed([*base, f"run_dir={tmp}/streamed", "cache_features=false"])
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or 'cpu'}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, 1 thread")
    print(f"command: PYTHONPATH=. OMP_NUM_THREADS=1 python {' '.join(sys.argv)}")
    print(f"video_tiny, {args.epochs} epochs, 4 heads, 2 segments x 3 views, "
          f"{a['splits']['train_listed']} train / {a['videos']['test']['listed']} test videos")
    print(f"feature cache:    {cached:7.1f} s")
    print(f"no cache:         {streamed:7.1f} s")
    print(f"speed-up:         {streamed / cached:7.2f}x")
    same = a["all_heads_test_not_used_for_selection"] == b["all_heads_test_not_used_for_selection"]
    print(f"same metrics:     {same} (chosen head top-1 {a['test']['top1']:.2f}% vs "
          f"{b['test']['top1']:.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
