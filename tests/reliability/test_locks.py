"""Guarantee 3: one writer per run / output folder. A live owner (pid, host, start time in the
lock) makes `vjepa train`, `vjepa extract` and `vjepa eval` refuse before writing anything; a
stale lock (dead pid, recycled pid, an earlier attempt of the same Slurm job) is taken over with
a warning."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_fixtures import make_video
from eval_helpers import tiny_overrides as eval_overrides
from eval_helpers import tiny_video_encoder, tiny_video_sets
from official_fakes import vjepa_file
from train_helpers import run_here, subprocess_env, tiny_overrides

from vjepa.eval.extract import main as extract_main
from vjepa.runlock import LOCK_NAME, RunFolderLocked, acquire, owner_record, release

HOLDER = ("import sys; from vjepa.runlock import acquire; acquire(sys.argv[1], sys.argv[2]); "
          "print('locked', flush=True); sys.stdin.read()")


@pytest.fixture
def live_owner(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """A live process that holds the lock of tmp_path/run until the test ends."""
    folder = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), "vjepa train"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=subprocess_env())
    try:
        assert proc.stdout.readline().strip() == "locked"  # waits on the holder itself
        yield folder, proc
    finally:
        proc.kill()
        proc.wait()


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def write_lock(folder: Path, **fields: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    path.write_text(json.dumps({**owner_record("vjepa train"), **fields}))
    return path


def test_train_refuses_a_folder_a_live_run_holds(live_owner, tmp_path: Path) -> None:
    folder, proc = live_owner
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(RunFolderLocked, match=rf"in use by vjepa train pid {proc.pid} on "
                                              rf"{socket.gethostname()} since \d{{4}}-"):
        run_here(tiny_overrides(folder, tmp_path / "cache", steps=2, ipe=2))
    assert sorted(p.name for p in folder.iterdir()) == before  # not even a train.log


def test_extract_refuses_an_output_folder_a_live_process_holds(
    live_owner, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder, proc = live_owner
    ckpt = vjepa_file(tmp_path / "vitl16.pth.tar", frames=4, img=32, patch=8)
    videos = tmp_path / "videos"
    make_video(videos / "a.mp4", num_frames=12)
    args = [str(ckpt), str(videos), str(folder), "--no-progress", "--device", "cpu"]
    assert extract_main(args) == 2
    assert f"pid {proc.pid}" in capsys.readouterr().err
    assert not (folder / "a.mp4.safetensors").exists()
    proc.kill()
    proc.wait()  # now the lock is stale: taken over, extraction runs
    assert extract_main(args) == 0
    assert (folder / "a.mp4.safetensors").is_file() and not (folder / LOCK_NAME).exists()


def test_eval_refuses_a_run_folder_a_live_process_holds(live_owner, tmp_path: Path) -> None:
    from vjepa.eval.main import compose, run

    folder, proc = live_owner
    train, test = tiny_video_sets(tmp_path / "data")
    ckpt = tiny_video_encoder(tmp_path / "enc.pth.tar")
    overrides = [*eval_overrides(ckpt, train, test, folder), "probe.protocol=knn"]
    with pytest.raises(RunFolderLocked, match=rf"in use by vjepa train pid {proc.pid} "
                                              rf".*refusing to start vjepa eval"):
        run(compose(overrides))
    assert [p.name for p in folder.iterdir()] == [LOCK_NAME]  # no eval.log, no config.yaml
    proc.kill()
    proc.wait()  # the owner is gone: its lock is taken over, the evaluation runs
    results = run(compose(overrides))
    assert results["videos"]["test"]["evaluated"] == 8
    assert (folder / "results.json").is_file() and not (folder / LOCK_NAME).exists()


@pytest.mark.parametrize("stale", ["dead pid", "recycled pid", "same slurm job"])
def test_a_stale_lock_is_taken_over_with_a_warning(
    tmp_path: Path, stale: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "run"
    if stale == "dead pid":
        write_lock(folder, pid=dead_pid())
    elif stale == "recycled pid":  # pid 1 lives, but it is not the process that locked
        write_lock(folder, pid=1, proc_start=-5)
    else:
        monkeypatch.setenv("SLURM_JOB_ID", "4242")
        write_lock(folder, pid=1, slurm_job_id="4242", host="another-node")
    with caplog.at_level(logging.WARNING, logger="vjepa"):
        summary = run_here(tiny_overrides(folder, tmp_path / "cache", steps=2, ipe=2))
    assert summary["step"] == 2
    assert any("taking over the stale lock" in r.getMessage() for r in caplog.records)
    assert not (folder / LOCK_NAME).exists()  # released at the end


def test_a_lock_from_another_host_is_refused_with_the_file_to_delete(tmp_path: Path) -> None:
    path = write_lock(tmp_path, pid=1, host="elsewhere")
    with pytest.raises(RunFolderLocked, match=rf"on elsewhere .*delete {path}"):
        acquire(tmp_path, "vjepa train")
    os.unlink(path)
    release(acquire(tmp_path, "vjepa train"))
