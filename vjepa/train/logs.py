"""Metric rows of a run: CSV (the record, resume-safe) and TensorBoard (rank 0 only)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

METRICS_CSV = "metrics.csv"


class MetricsWriter:
    """Appends rows {name: float} keyed by "step" to `<run_dir>/metrics.csv` and TensorBoard.

    Rows are keyed by the number of steps done. On resume from a checkpoint taken after k steps
    the CSV keeps only rows with step <= k, so steps that ran after the last checkpoint (and run
    again) are not duplicated. The column set is fixed by the first row.
    """

    def __init__(self, run_dir: str | Path, start_step: int, tensorboard: bool) -> None:
        self.path = Path(run_dir) / METRICS_CSV
        self.fields: list[str] | None = None
        self._truncate(start_step)
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # heavy: only when asked

            self.tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"),
                                    purge_step=start_step + 1)

    def _truncate(self, start_step: int) -> None:
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            self.fields = reader.fieldnames
            rows = [r for r in reader if float(r["step"]) <= start_step]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, float]) -> None:
        if "step" not in row:
            raise ValueError(f"metric row needs a 'step', got keys {sorted(row)}")
        new = self.fields is None
        if new:
            self.fields = list(row)
        unknown = set(row) - set(self.fields)
        if unknown:
            raise ValueError(f"metric row has columns {sorted(unknown)} not in {self.path}")
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self.tb is not None:
            step = int(row["step"])
            for name, value in row.items():
                if name != "step" and not math.isnan(value):  # NaN: not measured this row
                    self.tb.add_scalar(name, value, step)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_metrics(path: str | Path) -> dict[str, list[float]]:
    """Columns of a metrics CSV as float lists (empty cells become NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: [float(r[k]) if r[k] not in ("", None) else float("nan") for r in rows]
            for k in rows[0]}


def last_logged_loss(path: str | Path) -> tuple[int, float] | None:
    """(step, loss) of the last row of a metrics CSV with a finite loss, None if none has."""
    if not Path(path).is_file():
        return None
    columns = read_metrics(path)
    pairs = zip(columns.get("step", []), columns.get("loss", []), strict=True)
    finite = [(int(step), loss) for step, loss in pairs if math.isfinite(loss)]
    return finite[-1] if finite else None
