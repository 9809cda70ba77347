"""Submission records: one JSON line per job in ``<run folder>/jobs.jsonl``.

Written when a job is submitted (and by a job started from a Hydra sweep), read by
`vjepa jobs` to list a run's jobs with their state and log paths.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

RECORDS_FILE = "jobs.jsonl"


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    launcher: str  # "slurm" | "local"
    entry: str  # "module:function"
    submitted_at: str  # ISO 8601, UTC
    folder: str  # submitit folder (submission pickles, logs)
    stdout: str  # rank 0 log
    stderr: str
    num_tasks: int


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append_record(run_dir: Path, record: JobRecord) -> Path:
    """Append `record` to the run folder's records file (created with the folder if needed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RECORDS_FILE
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(record), sort_keys=True) + "\n")
    return path


def read_records(run_dir: Path) -> list[JobRecord]:
    """All records of a run folder, oldest first; a malformed line raises naming file and line."""
    path = run_dir / RECORDS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no job records in {run_dir} (expected {path})")
    records = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(JobRecord(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path}:{lineno}: not a job record ({e}): {line[:200]!r}") from e
    return records
