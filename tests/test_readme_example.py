"""The README's Python API example runs as written (on a tiny fake checkpoint and video)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from data_fixtures import make_video
from official_fakes import vjepa_file
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


def api_example() -> str:
    text = README.read_text()
    begin, end = "<!-- api-example:begin -->", "<!-- api-example:end -->"
    found = re.search(begin + r"\s*```python\n(.*?)```\s*" + end, text, re.S)
    assert found, "README lost its api-example block"
    return found.group(1)


def numbers_as_n(text: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "N", text)


def test_readme_example_runs(tmp_path: Path, capsys) -> None:
    code = api_example()
    assert len(code.strip().splitlines()) <= 10
    vjepa_file(tmp_path / "vitl16.pth.tar", frames=4, img=32, patch=8, depth=4)
    make_video(tmp_path / "video.mp4", num_frames=20)
    Image.fromarray(np.full((40, 50, 3), 120, np.uint8)).save(tmp_path / "photo.jpg")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        scope: dict = {}
        exec(compile(code, str(README), "exec"), scope)
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out.splitlines()
    # each print's comment shows its output (for ViT-L on a 10 s 25 fps video; after ": " a
    # note): the same text with this tiny fake's numbers
    shown = [line.split("  # ", 1)[1].split(": ")[0] for line in code.splitlines()
             if line.startswith("print(")]
    assert printed[0] == "vjepa 192 32x32 px, 4 frames, step 4"
    assert len(printed) == len(shown) == 2
    for out, comment in zip(printed, shown, strict=True):
        assert numbers_as_n(out) == numbers_as_n(comment), (out, comment)
    assert tuple(scope["out"].features.shape) == (len(scope["out"].start_s), 192)
    assert scope["tokens"].shape[1:] == (2, 32, 192)
    assert tuple(scope["image"].shape) == (1, 192)
