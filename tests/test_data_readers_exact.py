"""Every reader is exact for any sequence of get_batch calls on files that look like real ones
(B-frames and B-pyramids, open and long GOPs, variable frame rate, audio, odd sizes, a non-zero
start, a cut inside a GOP): frame i is bit-identical to the i-th frame of a plain sequential
decode (the contract of vjepa.data.decoders)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realistic_videos import SPECS, frame_types, sequential_decode, write_cut, write_realistic

from vjepa.data.decoders import available_backends, open_video
from vjepa.data.prep import probe_video

BACKENDS = available_backends()
NAMES = [s.name for s in SPECS] + ["cut"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[np.ndarray]]]:
    # The cut file makes FFmpeg log errors, by design. Leave them to FFmpeg's own logger:
    # av.logging.set_level installs a Python callback, and a frame-threaded decoder that logs
    # while its context is freed then deadlocks on the GIL (seen with num_threads=2).
    root = tmp_path_factory.mktemp("realistic")
    paths = {s.name: write_realistic(root / s.name, s) for s in SPECS}
    paths["cut"] = write_cut(paths["open_gop"], root / "cut.mp4", first_packet=3)
    return {name: (path, sequential_decode(path)) for name, path in paths.items()}


def _check(reader, reference: list[np.ndarray], indices: list[int]) -> None:  # noqa: ANN001
    frames = reader.get_batch(indices)
    assert frames.shape[0] == len(indices)
    for i, frame in zip(indices, frames, strict=True):
        assert np.array_equal(frame, reference[i]), f"frame {i} differs (reads {indices})"


def test_the_files_are_what_they_claim(files: dict) -> None:
    types = {name: frame_types(path) for name, (path, _) in files.items()}
    assert all("B" in t for t in types.values()), types
    opened = types["open_gop"]  # a B-frame right before each later I-frame: open GOPs
    assert opened.count("I") > 2 and all(opened[k - 1] == "B" for k in range(1, len(opened))
                                         if opened[k] == "I")
    assert types["long_gop_vfr"].count("I") == 1
    with av.open(str(files["bpyramid_qcif"][0])) as container:
        assert container.streams.audio and container.streams.video[0].width == 176
    with av.open(str(files["long_gop_vfr"][0])) as container:
        pts = [f.pts for f in container.decode(video=0)]
        assert len(set(np.diff(pts).tolist())) > 2  # irregular frame durations
    with av.open(str(files["offset_mkv"][0])) as container:
        assert next(container.decode(video=0)).pts > 0
    packets = _packet_count(files["cut"][0])
    assert len(files["cut"][1]) < packets  # the cut holds frames a decoder drops
    sizes = {s.name: (s.height, s.width) for s in SPECS} | {"cut": (68, 160)}
    assert {name: ref[0].shape[:2] for name, (_, ref) in files.items()} == sizes


def _packet_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(p.size > 0 for p in container.demux(video=0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_length_matches_the_sequential_decode(files: dict, name: str, backend: str) -> None:
    path, reference = files[name]
    with open_video(path, backend=backend) as reader:
        assert len(reader) == len(reference)
        _check(reader, reference, list(range(len(reference))))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_the_issue_read_patterns(files: dict, name: str, backend: str) -> None:
    """get_batch(0..63) then (64..127) on one reader; consecutive 16-frame windows; the same
    after a backwards seek; strided clips (extract --frame-step 1 --stride 8 style)."""
    path, reference = files[name]
    n = len(reference)
    with open_video(path, backend=backend) as reader:
        for start in range(0, n, 64):
            _check(reader, reference, list(range(start, min(n, start + 64))))
        for start in range(0, n, 16):
            _check(reader, reference, list(range(start, min(n, start + 16))))
        for start in range(0, n - 8, 8):
            _check(reader, reference, list(range(start, min(n, start + 16))))
        for start in range(n - 16, -1, -5):
            _check(reader, reference, list(range(start, start + 16, 2)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_issue_scenario_64_then_64(files: dict, backend: str) -> None:
    path, reference = files["issue_640x272"]
    with open_video(path, backend=backend) as reader:
        _check(reader, reference, list(range(0, 64)))
        _check(reader, reference, list(range(64, 128)))  # main: "frames [64] never decoded"


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_videos_full_decode_calls_them_good(files: dict, backend: str) -> None:
    for name, (path, reference) in files.items():  # main: issue_640x272 "short_decode"
        result = probe_video(str(path), backend=backend, full=True, timeout_s=None)
        assert result["ok"] and result["num_frames"] == len(reference), (name, result)


@st.composite
def read_sequences(draw: st.DrawFn, n: int) -> list[list[int]]:
    """A few get_batch calls: windows (possibly strided, overlapping, going back, or starting
    right after the previous call) or arbitrary indices with repeats, in any order."""
    calls: list[list[int]] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["window", "next window", "indices"]))
        if kind == "indices":
            calls.append(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=10)))
            continue
        start = draw(st.integers(0, n - 1))
        if kind == "next window" and calls and max(calls[-1]) + 1 < n:
            start = max(calls[-1]) + 1
        step = draw(st.integers(1, 4))
        calls.append(list(range(start, min(n, start + step * draw(st.integers(1, 20))), step)))
    return calls


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_read_sequence_is_exact(files: dict, name: str, backend: str,
                                    data: st.DataObject) -> None:
    path, reference = files[name]
    calls = data.draw(read_sequences(len(reference)), label="get_batch calls")
    threads = data.draw(st.sampled_from([1, 2]), label="decoder threads")
    with open_video(path, backend=backend, num_threads=threads) as reader:
        for indices in calls:
            _check(reader, reference, indices)


@pytest.mark.parametrize("backend", BACKENDS)
def test_readers_count_the_packets_a_sequential_decode_does_not_output(files: dict,
                                                                      backend: str) -> None:
    for name, (path, reference) in files.items():
        with open_video(path, backend=backend) as reader:
            assert reader.packets_not_output == _packet_count(path) - len(reference), name
            assert (reader.packets_not_output > 0) == (name == "cut"), name
