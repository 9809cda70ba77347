"""The opt-in of the Slurm integration tests (used by conftest.py); no tests here."""

from __future__ import annotations

import os
import shutil

import pytest

SLURM_OPT_IN = "VJEPA_SLURM_TESTS"
SLURM_SKIP = (f"Slurm integration test: it submits jobs to the cluster `sbatch` reaches; opt in "
              f"with {SLURM_OPT_IN}=1 (slurm/README.md, 'Testing the launch path')")


def gate_slurm_tests(items: list[pytest.Item]) -> None:
    """`slurm` tests run only when VJEPA_SLURM_TESTS=1; opted in without sbatch, the session
    stops with the reason (never a silent skip)."""
    slurm = [item for item in items if "slurm" in item.keywords]
    if slurm and os.environ.get(SLURM_OPT_IN) != "1":
        for item in slurm:
            item.add_marker(pytest.mark.skip(reason=SLURM_SKIP))
    elif slurm and shutil.which("sbatch") is None:
        raise pytest.UsageError(f"{SLURM_OPT_IN}=1 but sbatch is not on PATH: install the Slurm "
                                f"client or unset {SLURM_OPT_IN}")
