"""PNG plot of a run's metric curves: one figure, one small panel per monitored column; the
in-training probe (vjepa.train.probe_eval) in one panel next to the loss: each protocol's
accuracy at the probed steps, its random-init encoder's as a dashed line."""

from __future__ import annotations

import math
from pathlib import Path

from vjepa.train.logs import read_metrics

COLUMNS: tuple[str, ...] = (
    "loss", "lr", "wd", "momentum",
    "grad_norm_encoder", "grad_norm_predictor", "context_tokens", "target_tokens",
    "std_samples", "std_tokens", "eff_rank", "nonfinite_total",
    "data_s", "compute_s", "samples_per_s", "tflop_step", "tflops", "mfu", "peak_mem_mib",
)
PLOT_NAME = "curves.png"
PROBE_PANEL = "probe accuracy (dashed: random init)"


def probe_columns(data: dict[str, list[float]]) -> list[str]:
    return [c for c in data if c.startswith("probe_") and not c.endswith("_init")]


def draw_probe(ax, data: dict[str, list[float]]) -> None:  # noqa: ANN001 (matplotlib Axes)
    for name in probe_columns(data):
        points = [(s, v) for s, v in zip(data["step"], data[name], strict=True)
                  if not math.isnan(v)]
        line = ax.plot([s for s, _ in points], [v for _, v in points], marker="o", ms=3,
                       lw=1.2, label=name.removeprefix("probe_"))[0]
        init = data.get(f"{name}_init")
        if init and not math.isnan(init[-1]):
            ax.axhline(init[-1], ls="--", lw=1, color=line.get_color())
    ax.legend(fontsize=7)


def plot_metrics(csv_path: str | Path, out_dir: str | Path) -> Path | None:
    """Write `<out_dir>/curves.png` from a metrics CSV; None when it has no rows yet."""
    data = read_metrics(csv_path)
    present = [c for c in COLUMNS if c in data]
    if probe_columns(data):
        present.insert(1, PROBE_PANEL)
    if "step" not in data or not present:
        return None
    # The object API draws with the Agg canvas without touching pyplot's global backend, and is
    # imported here so that importing the trainer does not load matplotlib.
    from matplotlib.figure import Figure

    cols = 4
    rows = math.ceil(len(present) / cols)
    fig = Figure(figsize=(4 * cols, 2.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, present, strict=False):
        if name == PROBE_PANEL:
            draw_probe(ax, data)
        else:
            ax.plot(data["step"], data[name], lw=1.2)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    fig.supxlabel("step", fontsize=9)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.08, top=0.95, wspace=0.3, hspace=0.45)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PLOT_NAME
    fig.savefig(path, dpi=80)
    return path
