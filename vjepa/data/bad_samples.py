"""Counting broken samples across DataLoader workers, in the main process.

Each dataset item carries a ``"bad"`` list of ``(path, reason)`` events met while producing
it (a broken file is replaced by a deterministic neighbour, never silently). The training
loop hands every batch's list to :meth:`BadSampleTracker.update`; the tracker counts per
reason and path, writes the ``bad_samples`` report, and stops the run with
:class:`TooManyBadSamples` once the fraction of failed loads passes ``max_fraction``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# Reasons that are a data-set choice (the "filter" short-video policy), not breakage: they are
# counted and reported but do not count towards the error fraction.
FILTER_REASONS: frozenset[str] = frozenset({"too_short"})


class TooManyBadSamples(RuntimeError):
    """More than the allowed fraction of loads failed."""


class BadSampleTracker:
    """Aggregates bad-sample events and enforces a maximum failure fraction.

    Args:
        max_fraction: largest tolerated ``failed loads / attempted loads``.
        min_attempts: no stop before this many attempted loads (one broken file in the first
            batch is not a rate).
        ignore_reasons: reasons reported but not counted against ``max_fraction``.
    """

    def __init__(self, max_fraction: float = 0.01, min_attempts: int = 200,
                 ignore_reasons: Iterable[str] = FILTER_REASONS) -> None:
        if not 0.0 <= max_fraction <= 1.0:
            raise ValueError(f"max_fraction must be in [0, 1], got {max_fraction}")
        if min_attempts < 0:
            raise ValueError(f"min_attempts must be >= 0, got {min_attempts}")
        self.max_fraction = max_fraction
        self.min_attempts = min_attempts
        self.ignore_reasons = frozenset(ignore_reasons)
        self.samples = 0
        self.counts: Counter[str] = Counter()
        self.paths: dict[str, Counter[str]] = {}
        self.worker_deaths: list[dict] = []  # DataLoader workers lost: {"step", "error"}

    @property
    def failures(self) -> int:
        return sum(n for reason, n in self.counts.items() if reason not in self.ignore_reasons)

    @property
    def fraction(self) -> float:
        """Failed loads over attempted loads (delivered samples + failures)."""
        attempts = self.samples + self.failures
        return self.failures / attempts if attempts else 0.0

    def update(self, bad: Iterable[tuple[str, str]], num_samples: int) -> None:
        """Record one batch: its ``"bad"`` events and the number of samples it delivered.

        Raises:
            TooManyBadSamples: the failure fraction passed ``max_fraction`` (after
                ``min_attempts`` attempts); the message names the worst files.
        """
        if num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        self.samples += num_samples
        for path, reason in bad:
            self.counts[reason] += 1
            self.paths.setdefault(str(path), Counter())[reason] += 1
        attempts = self.samples + self.failures
        if attempts >= self.min_attempts and self.fraction > self.max_fraction:
            raise TooManyBadSamples(
                f"{self.failures} of {attempts} loads failed ({self.fraction:.2%} > "
                f"{self.max_fraction:.2%}); by reason {dict(self.counts)}; worst files: "
                + "; ".join(f"{p} ({', '.join(r)})" for p, r in self.worst(5))
            )

    def worker_died(self, step: int, error: str) -> None:
        """A DataLoader worker died while loading `step` (its batches are loaded again)."""
        self.worker_deaths.append({"step": int(step), "error": error})

    def worst(self, k: int = 10) -> list[tuple[str, list[str]]]:
        """The ``k`` paths with most events, each with its reasons."""
        ranked = sorted(self.paths.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        return [(path, sorted(reasons)) for path, reasons in ranked[:k]]

    def summary(self) -> str:
        """One line for the training log."""
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(self.counts.items())) or "none"
        deaths = f", {len(self.worker_deaths)} data loader workers died" \
            if self.worker_deaths else ""
        return (f"bad samples: {reasons} over {self.samples} delivered "
                f"({self.fraction:.3%} failed, {len(self.paths)} files){deaths}")

    def report(self, path: str | Path) -> Path:
        """Write the ``bad_samples`` JSON report (counts, fraction, every path with reasons)."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / "bad_samples.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "samples_delivered": self.samples,
            "failures": self.failures,
            "fraction": self.fraction,
            "max_fraction": self.max_fraction,
            "counts": dict(sorted(self.counts.items())),
            "files": [
                {"path": p, "reasons": dict(sorted(r.items()))} for p, r in
                sorted(self.paths.items(), key=lambda item: (-sum(item[1].values()), item[0]))
            ],
            "worker_deaths": self.worker_deaths,
        }
        path.write_text(json.dumps(payload, indent=1))
        return path

    def state_dict(self) -> dict:
        """For checkpoints, so counts survive a resume."""
        return {"samples": self.samples, "paths": {p: dict(r) for p, r in self.paths.items()},
                "worker_deaths": list(self.worker_deaths)}

    def load_state_dict(self, state: dict) -> None:
        self.samples = int(state["samples"])
        self.paths = {p: Counter(r) for p, r in state["paths"].items()}
        self.worker_deaths = list(state.get("worker_deaths", []))  # older checkpoints: none
        self.counts = Counter()
        for reasons in self.paths.values():
            self.counts.update(reasons)
