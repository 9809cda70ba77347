"""data_prep scripts end to end on a tiny generated tree (in-process, through main(argv))."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from data_fixtures import make_video

from vjepa.data.decoders import open_video
from vjepa.data.index import read_index_file
from vjepa.data.prep import read_log, scaled_size

SCRIPTS = Path(__file__).resolve().parents[1] / "data_prep"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"data_prep_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kinetics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("k") / "kinetics"
    for split, count in (("train", 2), ("val", 1)):
        for name in ("zebra", "archery") if split == "train" else ("archery",):
            for k in range(count):
                make_video(root / split / name / f"{name}_{k}.mp4", 12 + k, height=36, width=48)
    (root / "train" / "zebra" / "broken.mp4").write_text("not a video")
    (root / "train" / "zebra" / "notes.txt").write_text("ignored")
    return root


@pytest.mark.parametrize("name", ["make_index", "check_videos", "resize_videos",
                                  "make_synthetic"])
def test_scripts_have_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        script(name).main(["--help"])
    assert info.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_make_index_splits_and_labels(kinetics: Path, tmp_path: Path) -> None:
    assert script("make_index").main([str(kinetics), "--out", str(tmp_path)]) == 0
    classes = json.loads((tmp_path / "classes.json").read_text())
    assert classes == {"archery": 0, "zebra": 1}
    train = read_index_file(tmp_path / "train.csv")
    assert [(Path(s.path).name, s.label) for s in train] == [
        ("archery_0.mp4", 0), ("archery_1.mp4", 0), ("broken.mp4", 1), ("zebra_0.mp4", 1),
        ("zebra_1.mp4", 1)]
    assert [s.label for s in read_index_file(tmp_path / "val.csv")] == [0]
    script("make_index").main([str(kinetics / "train"), "--out", str(tmp_path / "flat"),
                               "--flat", "--relative"])
    flat = read_index_file(tmp_path / "flat" / "index.csv")
    assert [s.path for s in flat] == [s.path for s in train]  # relative paths resolve back
    assert not (tmp_path / "flat" / "index.csv").read_text().startswith("/")


def test_check_videos_report_clean_index_and_resume(kinetics: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    script("make_index").main([str(kinetics), "--out", str(tmp_path / "idx")])
    out = tmp_path / "check"
    args = [str(tmp_path / "idx" / "train.csv"), "--out", str(out), "--workers", "2",
            "--min-frames", "13"]
    assert script("check_videos").main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"not_video": 1, "too_short": 2}  # 12-frame videos are short
    clean = read_index_file(out / "clean.csv")
    assert sorted(Path(s.path).name for s in clean) == ["archery_1.mp4", "zebra_1.mp4"]
    rows = (out / "report.csv").read_text().splitlines()
    assert rows[0].startswith("path,label,ok,reason,num_frames") and len(rows) == 6
    assert any(",1,,13,25.0,48,36" in row for row in rows)
    log = out / "check_log.jsonl"
    first = log.read_text()
    log.write_text(first + '{"path": "torn')  # a crash in the middle of a line
    assert script("check_videos").main(args) == 0  # resumes: nothing left to check
    assert log.read_text() == first
    assert len(read_log(log)) == 5
    strict = [str(tmp_path / "idx" / "train.csv"), "--out", str(tmp_path / "none"),
              "--workers", "1", "--min-frames", "1000"]
    assert script("check_videos").main(strict) == 1  # nothing good: warned, non-zero
    assert "no good file among 5" in capsys.readouterr().err


def test_resize_videos_reencodes_skips_done_and_logs_failures(kinetics: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "small"
    args = [str(kinetics / "train"), "--src-root", str(kinetics), "--out", str(out),
            "--short-side", "24", "--gop", "4", "--workers", "1"]
    assert script("resize_videos").main(args) == 0
    index = read_index_file(out / "index.csv")
    assert len(index) == 4
    first = Path(index[0].path)
    assert first == out / "train" / "archery" / "archery_0.mp4"
    with open_video(first) as reader:
        assert len(reader) == 12 and reader.get_batch([0]).shape == (1, 24, 32, 3)
    failures = json.loads((out / "failures.json").read_text())
    assert [(Path(f["path"]).name, f["reason"]) for f in failures] == [("broken.mp4",
                                                                        "not_video")]
    assert not list(out.rglob(".*.tmp-*"))  # no temporary file left
    stamp = first.stat().st_mtime_ns
    (out / "resize_log.jsonl").unlink()  # even without the log, finished files are skipped
    assert script("resize_videos").main(args) == 0
    assert first.stat().st_mtime_ns == stamp


def test_scaled_size_keeps_short_side_even_and_never_upscales() -> None:
    assert scaled_size(340, 256, 256) == (340, 256)
    assert scaled_size(640, 360, 256) == (456, 256)
    assert scaled_size(100, 50, 256) == (100, 50)
    with pytest.raises(ValueError, match="1"):
        scaled_size(10, 10, 1)
