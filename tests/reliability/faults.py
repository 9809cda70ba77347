"""Fault injection shared by the reliability tests (no tests here): flipping bytes inside a
stored tensor, a corpus of broken videos."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from data_fixtures import make_broken_files, make_video

__test__ = False

HANG = "hangs.mp4"  # the reliability tests make its decode hang
# zeroed packets: what the decoder makes of them depends on where they land in the file
SCRAMBLED = {"short_decode", "too_short", "not_video", "truncated"}


def assert_reason(expected: str, got: str) -> None:
    assert got in SCRAMBLED if expected == "short_decode" else got == expected, (expected, got)


def broken_corpus(folder: Path, good: list[Path]) -> tuple[dict[str, Path], Path]:
    """({reason: file} of the bad files, a file without read permission), beside `good`."""
    bad = make_broken_files(folder / "broken", good[0])
    bad["too_short"] = make_video(folder / "short.mp4", num_frames=3, height=32, width=32)
    bad["timeout"] = Path(shutil.copy(good[0], folder / HANG))
    locked = Path(shutil.copy(good[1], folder / "locked.mp4"))
    locked.chmod(0)
    return bad, locked


def flip_in_torch_zip(path: Path) -> str:
    """Flip one byte in the middle of the largest tensor payload of a torch.save zip file
    (the archive stays readable: torch checks no CRC). Returns the zip member changed."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with path.open("r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(f.read(2), "little") for _ in range(2))
        _flip(f, info.header_offset + 30 + name_len + extra_len + info.file_size // 2)
    return info.filename


def flip_in_safetensors(path: Path) -> None:
    """Flip one byte in the middle of a safetensors file's tensor data (past its header)."""
    with path.open("r+b") as f:
        header = int.from_bytes(f.read(8), "little")
        size = path.stat().st_size
        _flip(f, 8 + header + (size - 8 - header) // 2)


def _flip(f, offset: int) -> None:  # noqa: ANN001 (a binary file)
    f.seek(offset)
    byte = f.read(1)
    f.seek(offset)
    f.write(bytes([byte[0] ^ 0x10]))
