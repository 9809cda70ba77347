"""benchmarks/learning.py --collect: seeds run in separate processes pool into one table
without retraining; mixed budgets, mixed probes or a repeated seed are refused with the reason
named."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "learning", Path(__file__).resolve().parents[1] / "benchmarks" / "learning.py")
learning = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(learning)


def _doc(path: Path, seed: int, target: float, init: float, budget: dict | None = None) -> Path:
    run = {"seed": seed, "command": f"vjepa train seed={seed}", "train_s": 1.0, "probe_s": 1.0,
           "steps": 3, "final_loss": 0.5, "in_training_probe": None,
           "scores": {"direction/attentive": {"target": target, "random_init": init}}}
    doc = {"recipe": "r", "card": {}, "budget": budget or {"epochs": 40}, "wall_s": 2.0,
           "runs": [run]}
    path.write_text(json.dumps(doc))
    return path


def test_collect_pools_seeds_into_one_table(tmp_path, capsys):
    paths = [_doc(tmp_path / f"{s}.json", s, t, i)
             for s, t, i in ((1, 0.6, 0.2), (0, 0.8, 0.3))]
    assert learning.main(["--collect", *map(str, paths), "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "r" / "learning.json").read_text())
    assert [r["seed"] for r in doc["runs"]] == [0, 1]
    (row,) = doc["table"]
    assert row["target"] == [0.8, 0.6] and row["random_init"] == [0.3, 0.2]
    assert row["gap_mean"] == pytest.approx(0.45) and row["gap_min"] == pytest.approx(0.4)
    assert "+0.450 (+0.400)" in capsys.readouterr().out


def test_collect_refuses_repeated_seeds_and_mixed_budgets(tmp_path):
    a, b = _doc(tmp_path / "a.json", 0, 0.5, 0.2), _doc(tmp_path / "b.json", 0, 0.5, 0.2)
    with pytest.raises(ValueError, match="seed appears twice"):
        learning.collected([a, b])
    c = _doc(tmp_path / "c.json", 1, 0.5, 0.2, budget={"epochs": 5})
    with pytest.raises(ValueError, match="differ in 'budget'"):
        learning.collected([a, c])


def test_collect_refuses_runs_with_different_probes(tmp_path):
    a = _doc(tmp_path / "a.json", 0, 0.5, 0.2)
    doc = json.loads(a.read_text())
    doc["runs"][0]["seed"] = 1
    doc["runs"][0]["scores"]["shape/attentive"] = {"target": 0.4, "random_init": 0.3}
    b = tmp_path / "b.json"
    b.write_text(json.dumps(doc))  # seed 1 ran with --image-attentive, seed 0 without
    with pytest.raises(ValueError, match="differ in their probes.*shape/attentive"):
        learning.collected([a, b])


@pytest.mark.parametrize("frames,tubelet", [(4, 2), (1, 2)])
def test_pixel_tokens_are_the_encoders_grid_of_raw_tubelets(frames, tubelet):
    import torch

    x = torch.randn(2, 3, frames, 8, 12)
    tokens = learning.pixel_tokens(x, tubelet, 4)
    t = tubelet if frames > 1 else 1
    want = [x[:, :, i * t:(i + 1) * t, h * 4:(h + 1) * 4, w * 4:(w + 1) * 4].reshape(2, -1)
            for i in range(frames // t) for h in range(2) for w in range(3)]
    assert torch.equal(tokens, torch.stack(want, dim=1))


def test_no_train_probes_random_init_and_pixels_only(tmp_path):
    out = tmp_path / "out"
    assert learning.main(["--recipe", "ijepa_tiny", "--seeds", "0", "--no-train", "--out",
                          str(out), "--set", f"data.cache_dir={tmp_path / 'cache'}",
                          "--budget", "num_train=12", "num_test=8", "epochs=1"]) == 0
    doc = json.loads((out / "ijepa_tiny" / "learning.json").read_text())
    for row in doc["table"]:
        assert set(row) >= {"random_init", "pixels"} and "target" not in row
        assert all(0.0 <= v <= 1.0 for v in row["random_init"] + row["pixels"])


def test_image_attentive_adds_attentive_rows_for_both_image_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("VJEPA_CACHE", str(tmp_path / "cache"))
    args = ["--recipe", "ijepa_tiny", "--no-train", "--seeds", "0", "--out", str(tmp_path),
            "--budget", "num_train=24", "num_test=8", "epochs=1", "batch_size=8", "k=3",
            "--image-attentive"]
    assert learning.main(args) == 0
    doc = json.loads((tmp_path / "ijepa_tiny" / "learning.json").read_text())
    assert doc["image_attentive"] is True
    scores = doc["runs"][0]["scores"]
    assert sorted(scores) == sorted(f"{t}/{p}" for t in ("shape", "count")
                                    for p in ("linear", "knn", "attentive"))
    for by_encoder in scores.values():
        assert set(by_encoder) == {"random_init", "pixels"}
        assert all(0.0 <= v <= 1.0 for v in by_encoder.values())
    assert learning.tasks("video", True) == learning.TASKS["video"]  # video keeps its probes
