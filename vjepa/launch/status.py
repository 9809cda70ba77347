"""`vjepa jobs RUN_DIR...`: a run's jobs at a glance (state, step reached, last loss, log).

States come from Slurm accounting (``sacct``) for Slurm jobs and from the result file or the
process for local jobs; the step and the loss from the last row of the run's metrics CSV.
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from submitit.core.utils import JobPaths
from submitit.slurm.slurm import SlurmInfoWatcher

from vjepa.launch.records import RECORDS_FILE, JobRecord, read_records
from vjepa.train.logs import METRICS_CSV


@dataclass(frozen=True)
class Progress:
    step: int
    loss: float


def run_dirs_from(paths: list[Path]) -> list[Path]:
    """Run folders: each path that holds job records, else its direct children that do
    (a sweep's root). A path with neither raises."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "does not exist"
            raise FileNotFoundError(f"{path}: the run folder {what}")
        if (path / RECORDS_FILE).is_file():
            out.append(path)
            continue
        children = sorted(p.parent for p in path.glob(f"*/{RECORDS_FILE}"))
        if not children:
            raise FileNotFoundError(f"{path}: no {RECORDS_FILE} in it or in its sub-folders")
        out.extend(children)
    return out


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """Job id -> Slurm state (latest attempt of a requeued job) for the given ids."""
    if not job_ids:
        return {}
    if shutil.which("sacct") is None:
        raise RuntimeError(f"sacct not found: the states of Slurm jobs {job_ids} need Slurm's "
                           "accounting; run `vjepa jobs` on a node of the cluster")
    cmd = ["sacct", "--parsable2", "-o", "JobID,State"]
    for main_id in sorted({j.split("_")[0] for j in job_ids}):
        cmd += ["-j", main_id]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    info = SlurmInfoWatcher().read_info(out)
    return {j: info.get(j, {}).get("State", "UNKNOWN") for j in job_ids}


def local_state(record: JobRecord) -> str:
    """COMPLETED/FAILED from the result file of task 0, else RUNNING while the job's
    controller process lives (same machine only), else UNKNOWN."""
    result = JobPaths(record.folder, job_id=record.job_id, task_id=0).result_pickle
    if result.is_file():
        with result.open("rb") as f:
            outcome = pickle.load(f)[0]
        return "COMPLETED" if outcome == "success" else "FAILED"
    try:
        os.kill(int(record.job_id), 0)
    except ProcessLookupError:
        return "UNKNOWN"
    return "RUNNING"


def read_progress(run_dir: Path) -> Progress | None:
    """Step and loss of the last complete row of ``<run_dir>/metrics.csv`` (None before the
    first row)."""
    path = run_dir / METRICS_CSV
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()  # a row being written right now
    rows = list(csv.DictReader(lines))
    if not rows:
        return None
    last = rows[-1]
    if "step" not in last or "loss" not in last:
        raise ValueError(f"{path}: needs 'step' and 'loss' columns, has {sorted(last)}")
    return Progress(step=int(float(last["step"])), loss=float(last["loss"]))


def job_table(run_dirs: list[Path]) -> list[list[str]]:
    """Rows: run, job id, launcher, state, step, loss, log path (header first)."""
    per_run = [(d, read_records(d)) for d in run_dirs]
    slurm_ids = [r.job_id for _, recs in per_run for r in recs if r.launcher == "slurm"]
    states = slurm_states(slurm_ids)
    rows = [["RUN", "JOB", "LAUNCHER", "STATE", "STEP", "LOSS", "LOG"]]
    for run_dir, records in per_run:
        progress = read_progress(run_dir)
        step = str(progress.step) if progress else "-"
        loss = f"{progress.loss:.4f}" if progress else "-"
        for r in records:
            state = states[r.job_id] if r.launcher == "slurm" else local_state(r)
            rows.append([str(run_dir), r.job_id, r.launcher, state, step, loss, r.stdout])
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vjepa jobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path,
                        help="run folders (or a sweep's root folder)")
    args = parser.parse_args(argv)
    try:
        rows = job_table(run_dirs_from(args.run_dirs))
    except (FileNotFoundError, ValueError) as e:  # no records, a malformed record or CSV
        print(f"vjepa jobs: {e}", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0
