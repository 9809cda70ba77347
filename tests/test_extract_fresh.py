"""`vjepa extract` reruns: a file counts as done only for the same checkpoint and options;
class-folder labels; feature files get the umask's mode."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from data_fixtures import make_video
from official_fakes import vjepa_file

from vjepa.eval.extract import ExtractConfig, main, read_features, run_extract
from vjepa.eval.extract_fresh import StaleFeatures


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("classes")
    for cls in ("cats", "dogs"):
        make_video(root / cls / f"{cls}.mp4", num_frames=12, fps=25)
    return root


def _cfg(ckpt: Path, root: Path, out: Path, **kw: object) -> ExtractConfig:
    return ExtractConfig(str(ckpt), str(root), str(out), pool="mean", progress=False,
                         device="cpu", **kw)


def test_rerun_with_another_checkpoint_refuses_then_overwrites(tmp_path: Path,
                                                              videos: Path) -> None:
    first = vjepa_file(tmp_path / "a.pth.tar", frames=4, img=32, patch=8, seed=0)
    out = tmp_path / "feats"
    assert run_extract(_cfg(first, videos, out))["counts"]["done"] == 2
    old = read_features(out / "cats" / "cats.mp4.safetensors")[0].features
    # the same checkpoint and options: skipped
    assert run_extract(_cfg(first, videos, out))["counts"]["skipped"] == 2
    second = vjepa_file(tmp_path / "b.pth.tar", frames=4, img=32, patch=8, seed=1)
    with pytest.raises(StaleFeatures, match="checkpoint"):
        run_extract(_cfg(second, videos, out))
    same = read_features(out / "cats" / "cats.mp4.safetensors")[0].features
    torch.testing.assert_close(same, old)  # nothing was written by the refused run
    manifest = run_extract(_cfg(second, videos, out, overwrite=True))
    assert manifest["counts"]["done"] == 2 and manifest["counts"]["replaced"] == 2
    new = read_features(out / "cats" / "cats.mp4.safetensors")[0].features
    assert not torch.allclose(new, old)


def test_rerun_with_other_options_is_refused_naming_them(tmp_path: Path, videos: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    ckpt = vjepa_file(tmp_path / "a.pth.tar", frames=4, img=32, patch=8)
    out = tmp_path / "feats"
    args = [str(ckpt), str(videos), str(out), "--no-progress", "--device", "cpu"]
    assert main([*args, "--pool", "mean", "--stride", "4"]) == 0
    assert main([*args, "--pool", "none", "--stride", "8"]) == 2
    err = capsys.readouterr().err
    assert "pool 'mean' -> 'none'" in err and "stride 4 -> 8" in err


def test_a_rewritten_checkpoint_is_not_the_same(tmp_path: Path, videos: Path) -> None:
    ckpt = vjepa_file(tmp_path / "a.pth.tar", frames=4, img=32, patch=8, seed=0)
    out = tmp_path / "feats"
    run_extract(_cfg(ckpt, videos, out))
    vjepa_file(ckpt, frames=4, img=32, patch=8, seed=2)  # same path, new content
    os.utime(ckpt, ns=(ckpt.stat().st_atime_ns, ckpt.stat().st_mtime_ns + 10**9))
    with pytest.raises(StaleFeatures):
        run_extract(_cfg(ckpt, videos, out))


def test_class_folders_give_labels_and_files_get_the_umask_mode(tmp_path: Path,
                                                                videos: Path) -> None:
    ckpt = vjepa_file(tmp_path / "a.pth.tar", frames=4, img=32, patch=8)
    out = tmp_path / "feats"
    old = os.umask(0o022)
    try:
        manifest = run_extract(_cfg(ckpt, videos, out))
    finally:
        os.umask(old)
    labels = {Path(e["input"]).parent.name: e["label"] for e in manifest["files"]}
    assert labels == {"cats": 0, "dogs": 1}
    path = out / "dogs" / "dogs.mp4.safetensors"
    assert read_features(path)[1]["label"] == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert json.loads((out / "manifest.json").read_text())["counts"]["bad"] == 0
