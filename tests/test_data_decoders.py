"""Video readers: frame exactness, equality across backends, failures by reason."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import frame_number, make_broken_files, make_video

from vjepa.data.decoders import (
    DecodeError,
    available_backends,
    open_video,
    read_frames,
    run_bounded,
)

BACKENDS = available_backends()
NUM_FRAMES = 30


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {
        "mp4": make_video(root / "clip.mp4", NUM_FRAMES, gop=7),
        "webm": make_video(root / "clip.webm", NUM_FRAMES, gop=7),
    }


def test_pyav_and_decord_are_installed() -> None:
    assert "pyav" in BACKENDS and "decord" in BACKENDS, BACKENDS


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_reader_returns_requested_frames(videos: dict[str, Path], backend: str, kind: str) -> None:
    indices = [17, 3, 3, 29, 0, 8, 9, 28]  # unsorted, repeated, across keyframes, both ends
    with open_video(videos[kind], backend=backend) as reader:
        assert len(reader) == NUM_FRAMES
        assert reader.fps == pytest.approx(25.0)
        frames = reader.get_batch(indices)
    assert frames.dtype == np.uint8 and frames.shape == (len(indices), 48, 64, 3)
    assert [frame_number(f) for f in frames] == indices


@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_backends_are_bit_identical(videos: dict[str, Path], kind: str) -> None:
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, NUM_FRAMES, 10).tolist() for _ in range(3)] + [list(range(30))]
    for indices in draws:
        outputs = {}
        for backend in BACKENDS:
            with open_video(videos[kind], backend=backend) as reader:
                outputs[backend] = reader.get_batch(indices)
        reference = outputs[BACKENDS[0]]
        for backend, frames in outputs.items():
            np.testing.assert_array_equal(frames, reference, err_msg=f"{backend} vs {BACKENDS[0]}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_reader_reuse_after_backward_jump(videos: dict[str, Path], backend: str) -> None:
    with open_video(videos["mp4"], backend=backend) as reader:
        late = reader.get_batch([25, 26])
        early = reader.get_batch([1, 2])
        again = reader.get_batch([25, 26])
    assert [frame_number(f) for f in early] == [1, 2]
    np.testing.assert_array_equal(late, again)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reader_rejects_bad_arguments_and_closes(videos: dict[str, Path], backend: str) -> None:
    reader = open_video(videos["mp4"], backend=backend)
    with pytest.raises(ValueError, match="out of range"):
        reader.get_batch([0, NUM_FRAMES])
    with pytest.raises(ValueError, match="at least one"):
        reader.get_batch([])
    with reader:
        pass
    assert reader.closed
    with pytest.raises(ValueError, match="closed"):
        reader.get_batch([0])


def test_open_video_rejects_unknown_backend_and_threads(videos: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="opencv"):
        open_video(videos["mp4"], backend="opencv")
    with pytest.raises(ValueError, match="-2"):
        open_video(videos["mp4"], num_threads=-2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_broken_files_raise_decode_error_with_reason(tmp_path: Path, videos: dict[str, Path],
                                                     backend: str) -> None:
    for reason, path in make_broken_files(tmp_path, videos["mp4"]).items():
        with pytest.raises(DecodeError) as info:
            read_frames(path, [0, 1, 20], backend=backend)
        assert info.value.reason == reason, (path, info.value)
        assert info.value.path == str(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_frames_with_index_function(videos: dict[str, Path], backend: str) -> None:
    frames, indices, num_frames, fps = read_frames(
        videos["mp4"], lambda n, fps: np.arange(n - 3, n), backend=backend
    )
    assert num_frames == NUM_FRAMES and fps == pytest.approx(25.0)
    assert indices.tolist() == [27, 28, 29]
    assert [frame_number(f) for f in frames] == [27, 28, 29]


def test_run_bounded_times_out_and_propagates_errors() -> None:
    release = threading.Event()
    with pytest.raises(DecodeError) as info:
        run_bounded(lambda: release.wait(10.0), timeout_s=0.05, path="slow.mp4")
    release.set()
    assert info.value.reason == "timeout" and info.value.path == "slow.mp4"

    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_bounded(fail, timeout_s=5.0, path="x.mp4")
    assert run_bounded(lambda: 3, timeout_s=None, path="x.mp4") == 3
    with pytest.raises(ValueError, match="-1"):
        run_bounded(lambda: 3, timeout_s=-1, path="x.mp4")


def test_torchcodec_backend_skips_with_reason_when_missing(videos: dict[str, Path]) -> None:
    if "torchcodec" in BACKENDS:
        with open_video(videos["mp4"], backend="torchcodec") as reader:
            assert [frame_number(f) for f in reader.get_batch([5, 6])] == [5, 6]
    else:
        pytest.skip("torchcodec is not installed (optional extra vjepa[torchcodec])")


@pytest.mark.parametrize("backend", BACKENDS)
def test_readers_release_files_also_on_failure(tmp_path: Path, videos: dict[str, Path],
                                               backend: str) -> None:
    broken = make_broken_files(tmp_path, videos["mp4"])
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():
        pytest.skip("needs /proc/self/fd to count open files (Linux)")
    read_frames(videos["mp4"], [0], backend=backend)  # warm-up: imports, lazy library state
    before = len(list(fd_dir.iterdir()))
    for _ in range(10):
        read_frames(videos["mp4"], [0, 29], backend=backend)
        for path in broken.values():
            with pytest.raises(DecodeError):
                read_frames(path, [0, 20], backend=backend)
    assert len(list(fd_dir.iterdir())) <= before
