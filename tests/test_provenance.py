"""version.txt records the git commit of the code that ran (vjepa.provenance)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vjepa import provenance


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "pkg" / "a.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return repo


def test_the_commit_of_a_checkout_and_its_dirty_mark(checkout: Path) -> None:
    head = git(checkout, "rev-parse", "HEAD")
    assert provenance.git_commit(checkout / "pkg") == head
    (checkout / "pkg" / "new.py").write_text("")  # untracked: not a change of the code
    assert provenance.git_commit(checkout / "pkg") == head
    (checkout / "pkg" / "a.py").write_text("x = 2\n")
    assert provenance.git_commit(checkout / "pkg") == f"{head}-dirty"


def test_outside_a_checkout_the_commit_is_unknown(tmp_path: Path) -> None:
    assert provenance.git_commit(tmp_path) is None
    assert provenance.version_text({"vjepa": "0.1"}, tmp_path) == (
        "vjepa 0.1\ncommit unknown (not a git checkout)\n")


def test_version_text_names_this_checkouts_commit() -> None:
    """The tests run from a checkout (README): the package's own commit is found."""
    commit = provenance.git_commit()
    assert commit is not None
    head = git(provenance.PACKAGE_DIR, "rev-parse", "HEAD")
    assert commit.removesuffix("-dirty") == head
    assert provenance.version_text({"vjepa": "0.1"}) == f"vjepa 0.1\ncommit {commit}\n"
