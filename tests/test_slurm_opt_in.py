"""The Slurm integration tests are opt-in: skipped with the reason by default, and an opt-in
without `sbatch` stops the session naming the problem (never a silent skip)."""

from __future__ import annotations

import pytest
import slurm_gate


class FakeItem:
    def __init__(self, *keywords: str) -> None:
        self.keywords = set(keywords)
        self.markers: list[pytest.Mark] = []

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.markers.append(marker.mark)


def collect(monkeypatch: pytest.MonkeyPatch, opt_in: str | None, sbatch: str | None
            ) -> list[FakeItem]:
    if opt_in is None:
        monkeypatch.delenv(slurm_gate.SLURM_OPT_IN, raising=False)
    else:
        monkeypatch.setenv(slurm_gate.SLURM_OPT_IN, opt_in)
    monkeypatch.setattr(slurm_gate.shutil, "which", lambda name: sbatch)
    items = [FakeItem("slurm"), FakeItem("other")]
    slurm_gate.gate_slurm_tests(items)
    return items


@pytest.mark.parametrize("opt_in", [None, "0", "yes"])
def test_skipped_unless_opted_in_with_the_reason(monkeypatch, opt_in):
    slurm, other = collect(monkeypatch, opt_in, "/usr/bin/sbatch")
    (mark,) = slurm.markers
    assert mark.name == "skip" and "VJEPA_SLURM_TESTS=1" in mark.kwargs["reason"]
    assert other.markers == []


def test_opted_in_they_run(monkeypatch):
    slurm, other = collect(monkeypatch, "1", "/usr/bin/sbatch")
    assert slurm.markers == other.markers == []


def test_opt_in_without_sbatch_stops_with_the_reason(monkeypatch):
    with pytest.raises(pytest.UsageError, match="sbatch is not on PATH"):
        collect(monkeypatch, "1", None)


def test_the_integration_modules_carry_the_marker():
    import test_slurm_launch
    import test_slurm_train

    for module in (test_slurm_launch, test_slurm_train):
        assert module.pytestmark.name == "slurm"
