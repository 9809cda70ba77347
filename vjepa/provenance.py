"""Where the running code came from: the package version and, from a git checkout, its commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):  # no git on the machine, or it hung
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(folder: Path = PACKAGE_DIR) -> str | None:
    """The commit of the git checkout holding `folder` (default: this package), with
    "-dirty" when tracked files under it differ from that commit; None outside a checkout
    (a wheel install) or without git."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None
    changed = _git(folder, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return f"{commit}-dirty" if changed else commit


def version_text(versions: dict[str, str], folder: Path = PACKAGE_DIR) -> str:
    """`name version` lines, then `commit <sha>` of `folder`'s checkout (or `commit unknown
    (...)`): a run folder's version.txt."""
    commit = git_commit(folder)
    lines = [f"{name} {version}" for name, version in versions.items()]
    lines.append(f"commit {commit}" if commit else "commit unknown (not a git checkout)")
    return "\n".join(lines) + "\n"
