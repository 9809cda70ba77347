"""PNG plots of a run's metric curves (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from vjepa.train.logs import read_metrics  # noqa: E402

PANELS: dict[str, tuple[str, ...]] = {
    "loss": ("loss",),
    "schedules": ("lr", "wd", "momentum"),
    "grad_norm": ("grad_norm_encoder", "grad_norm_predictor"),
    "collapse": ("std_samples", "std_tokens", "eff_rank"),
    "tokens": ("context_tokens", "target_tokens"),
    "time": ("data_s", "compute_s"),
    "throughput": ("samples_per_s",),
    "memory": ("peak_mem_mib",),
}


def plot_metrics(csv_path: str | Path, out_dir: str | Path) -> list[Path]:
    """One PNG per panel whose columns exist in the CSV; returns the files written."""
    data = read_metrics(csv_path)
    if "step" not in data:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for panel, names in PANELS.items():
        present = [n for n in names if n in data]
        if not present:
            continue
        fig, axes = plt.subplots(len(present), 1, figsize=(7, 2.4 * len(present)), squeeze=False)
        for ax, name in zip(axes[:, 0], present, strict=True):
            ax.plot(data["step"], data[name], lw=1.2)
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("step")
        fig.tight_layout()
        path = out_dir / f"{panel}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
