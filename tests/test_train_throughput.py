"""FLOPs per step (block-level counts composed) equal torch's flop counter over a whole step;
the card table gives the MFU peak; metrics.csv carries the throughput columns."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from train_helpers import run_here, tiny_overrides

from vjepa.smoke import tiny_jepa
from vjepa.train import throughput
from vjepa.train.throughput import StepFlops, mask_shapes, peak_tflops


@pytest.mark.parametrize("frames,step", [(1, 0), (1, 3), (4, 0), (4, 5)])
def test_step_flops_equal_the_flop_counter_on_a_whole_step(frames, step):
    model, collator = tiny_jepa(frames)
    shape = (3, 3, frames, 64, 64) if frames > 1 else (3, 3, 64, 64)
    enc, pred = collator.masks(step, 3)
    with torch.device("meta"):
        meta, _ = tiny_jepa(frames)
    on_meta = [[[m.to("meta") for m in grp] for grp in masks] for masks in (enc, pred)]
    with FlopCounterMode(display=False) as counter:
        meta(torch.empty(shape, device="meta"), *on_meta).loss.backward()
    flops = StepFlops(model)
    got = flops(shape, model.encoder.num_patches, mask_shapes(enc), mask_shapes(pred))
    assert got == counter.get_total_flops() > 0
    cached = len(flops.cache)
    assert flops(shape, model.encoder.num_patches, mask_shapes(enc), mask_shapes(pred)) == got
    assert len(flops.cache) == cached  # counted once per shape


def test_peak_is_nan_on_cpu_and_unknown_cards_and_from_the_table_otherwise(monkeypatch):
    assert math.isnan(peak_tflops(torch.device("cpu")))
    for name, want in (("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0),
                       ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA H200", 989.4)):
        monkeypatch.setattr(throughput.torch.cuda, "get_device_name", lambda _d, n=name: n)
        assert peak_tflops(torch.device("cuda")) == want
    monkeypatch.setattr(throughput.torch.cuda, "get_device_name", lambda _d: "Card X")
    assert math.isnan(peak_tflops(torch.device("cuda")))


def test_metrics_csv_has_throughput_columns(tmp_path):
    run_dir = tmp_path / "run"
    run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=4) + ["logging.log_every=2"])
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert len(rows) == 2
    for row in rows:
        assert float(row["tflop_step"]) > 0 and float(row["tflops"]) > 0
        assert float(row["compute_s"]) > 0 and math.isnan(float(row["mfu"]))  # CPU: no peak
