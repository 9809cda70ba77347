"""The GPU train-step benchmark runs on the CPU (--size tiny) and imports neither Hydra,
OmegaConf, submitit nor a video decoder (the GPU machine has none of them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from train_helpers import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import sys
sys.path.insert(0, "benchmarks")
import bench_train_step
bench_train_step.main(["--device", "cpu", "--size", "tiny", "--recipe", "vjepa_vitl16",
                       "--batch-sizes", "2", "--steps", "2", "--warmup", "1",
                       "--dtype", "float32", "--variants", "plain", "fused", "pack"])
heavy = [m for m in ("hydra", "omegaconf", "submitit", "av", "decord") if m in sys.modules]
assert not heavy, f"benchmark imported {heavy}"
"""


def test_bench_runs_the_recipe_on_cpu_without_hydra_submitit_or_decoders(tmp_path):
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=subprocess_env(OUT=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in
            (tmp_path / "bench_train_step.jsonl").read_text().splitlines()]
    assert [r["variant"] for r in rows] == ["plain", "fused", "pack"]
    assert "fused_adamw=True" in rows[1]["levers"] and "pack=predictor" in rows[2]["levers"]
    for r in rows:
        assert r["card"] == "cpu" and r["recipe"] == "vjepa_vitl16" and r["dtype"] == "float32"
        assert r["batch_size"] == 2 and r["timed_steps"] == 2 and r["ms_step"] > 0
        assert r["mfu"] is None and r["peak_tflops"] is None  # no peak for a CPU
        assert len(r["context_tokens"]) == 2  # the recipe's two mask configurations
    assert len({r["tflop_step"] for r in rows}) == 1 and rows[0]["tflop_step"] > 0  # same math
