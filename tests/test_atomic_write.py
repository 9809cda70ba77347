"""The one atomic write (vjepa.checkpoints.io.atomic_write): every writer of the package goes
through it, and it fsyncs the file before the rename and the folder after it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vjepa.checkpoints import io as ckpt_io
from vjepa.train.checkpoint import atomic_save


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """('fsync', path) and ('replace', target) in the order the writer made them."""
    seen: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        seen.append(("replace", str(dst)))

    monkeypatch.setattr(ckpt_io.os, "fsync", fsync)
    monkeypatch.setattr(ckpt_io.os, "replace", replace)
    return seen


def expected(path: Path) -> list[tuple[str, str]]:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    return [("fsync", str(tmp)), ("replace", str(path)), ("fsync", str(path.parent))]


def test_a_checkpoint_is_fsynced_renamed_and_its_folder_fsynced(tmp_path, events) -> None:
    path = tmp_path / "ckpt" / "latest.pt"
    atomic_save({"w": torch.arange(4)}, path)
    assert events == expected(path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(4))


def test_a_safetensors_file_is_fsynced_renamed_and_its_folder_fsynced(tmp_path, events) -> None:
    path = tmp_path / "model.safetensors"
    with ckpt_io.atomic_write(path) as tmp:
        save_file({"w": torch.ones(3)}, str(tmp))
    assert events == expected(path)
    assert torch.equal(ckpt_io.read_safetensors(path)[0]["w"], torch.ones(3))


def test_a_failed_block_leaves_the_old_file_and_no_temp(tmp_path, events) -> None:
    path = tmp_path / "a.json"
    path.write_text("old")
    with pytest.raises(KeyError), ckpt_io.atomic_write(path) as tmp:
        tmp.write_text("half")
        raise KeyError("boom")
    assert path.read_text() == "old" and events == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_no_other_module_renames_files_itself() -> None:
    """One atomic write: no module of the package but checkpoints/io.py calls os.replace or
    Path.replace (a second copy would be one without the fsyncs). (runlock's os.rename claims
    a lock; it writes nothing.)"""
    root = Path(ckpt_io.__file__).parents[1]
    others = [str(p.relative_to(root)) for p in root.rglob("*.py")
              if p != Path(ckpt_io.__file__)
              and any(name in p.read_text() for name in ("os.replace(", ").replace(out"))]
    assert others == []
