"""What an evaluation leaves in its run folder besides the probe checkpoint.

    results.json          metrics of the chosen head and of every head, exact counts, failures
    metrics.csv           per-epoch curves (also in tensorboard/), keyed by "step" = epoch
    plots/curves.png      per-epoch train loss and held-out / test top-1 of every head
    plots/confusion.png   confusion matrix of the chosen head on the test set
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vjepa.checkpoints.io import atomic_write
from vjepa.train.logs import read_metrics


def write_json(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def _figure(width: float, height: float):  # noqa: ANN202 (matplotlib Figure, imported lazily)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_confusion(confusion: torch.Tensor, path: Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows: true class) as a PNG."""
    rows = confusion.double().sum(1, keepdim=True).clamp(min=1)
    size = min(12.0, 2.0 + 0.25 * len(confusion))
    fig = _figure(size, size)
    ax = fig.subplots()
    image = ax.imshow((confusion.double() / rows).numpy(), vmin=0, vmax=1, cmap="viridis")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


def plot_curves(csv_path: Path, path: Path) -> Path | None:
    """Panels: train loss, held-out top-1, test top-1; one line per head."""
    data = read_metrics(csv_path) if csv_path.is_file() else {}
    if "step" not in data:
        return None
    fig = _figure(13, 3.2)
    axes = fig.subplots(1, 3)
    for ax, prefix in zip(axes, ("train_loss/", "holdout_top1/", "test_top1/"), strict=True):
        for name in (k for k in data if k.startswith(prefix)):
            ax.plot(data["step"], data[name], lw=1, label=name[len(prefix):])
        ax.set_title(prefix.rstrip("/"), fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.grid(alpha=0.3)
    if len([k for k in data if k.startswith("test_top1/")]) <= 8:
        axes[2].legend(fontsize=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path
