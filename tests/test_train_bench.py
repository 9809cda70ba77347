"""The GPU train-step benchmark runs on the CPU (tiny recipe) and imports no submitit / decoders."""

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
bench_train_step.main(["--device", "cpu", "--recipe", "vjepa_tiny", "--batch-sizes", "2",
                       "--steps", "1", "--warmup", "1", "--dtype", "float32"])
heavy = [m for m in ("submitit", "av", "decord") if m in sys.modules]
assert not heavy, f"benchmark imported {heavy}"
"""


def test_bench_runs_the_recipe_on_cpu_without_submitit_or_decoders(tmp_path):
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=subprocess_env(OUT=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "bench_train_step.json").read_text())
    assert report["card"] == "cpu" and report["recipe"] == "vjepa_tiny"
    assert report["input"] == [3, 8, 64, 64] and report["dtype"] == "float32"
    (row,) = report["results"]
    assert row["batch_size"] == 2 and row["step_ms"] > 0 and row["clips_per_s"] > 0
