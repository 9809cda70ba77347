#!/usr/bin/env python
"""Re-encode videos to a target short side with a bounded keyframe interval (H.264 MP4).

Random clip access decodes from the previous keyframe, so a keyframe every --gop frames
keeps it fast. Finished files are skipped on a rerun (each output is written under a
temporary name and renamed when complete); failures are logged in --out/resize_log.jsonl
and listed in failures.json; index.csv lists the re-encoded files with their labels.

Example:
    python data_prep/resize_videos.py /data/k400_index/train.csv --src-root /data/kinetics400 \\
        --out /data/kinetics400_256 --short-side 256 --gop 16 --workers 16
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from vjepa.data.index import VIDEO_EXTENSIONS, load_samples
from vjepa.data.prep import reencode_video, run_resumable


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", type=Path, help="index file (path label) or class folder tree")
    parser.add_argument("--src-root", type=Path, required=True,
                        help="common root of the inputs; outputs mirror the tree below it")
    parser.add_argument("--out", type=Path, required=True, help="output root")
    parser.add_argument("--short-side", type=int, default=256, help="never upscaled")
    parser.add_argument("--gop", type=int, default=16, help="max frames between keyframes")
    parser.add_argument("--crf", type=int, default=23, help="x264 quality (lower: better)")
    parser.add_argument("--preset", default="veryfast", help="x264 speed preset")
    parser.add_argument("--workers", type=int, default=4, help="processes")
    return parser.parse_args(argv)


def output_path(src: str, src_root: Path, out: Path) -> str:
    try:
        relative = Path(src).resolve().relative_to(src_root.resolve())
    except ValueError:
        raise SystemExit(f"error: {src} is not under --src-root {src_root}") from None
    return str((out / relative).with_suffix(".mp4"))


def resize_one(src: str, src_root: Path, out: Path, short_side: int, gop: int, crf: int,
               preset: str) -> dict:
    dst = output_path(src, src_root, out)
    if Path(dst).exists():
        return {"ok": True, "output": dst, "skipped": True}
    result = reencode_video(src, dst, short_side, gop, crf, preset)
    return {"output": dst, **result}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    samples = load_samples(args.index, VIDEO_EXTENSIONS)
    for sample in samples:
        output_path(sample.path, args.src_root, args.out)  # fail early on a path outside
    job = functools.partial(resize_one, src_root=args.src_root, out=args.out.resolve(),
                            short_side=args.short_side, gop=args.gop, crf=args.crf,
                            preset=args.preset)
    results = run_resumable(job, [s.path for s in samples], args.out / "resize_log.jsonl",
                            args.workers, "resize")
    ok = [s for s in samples if results[s.path]["ok"]]
    failures = [results[s.path] for s in samples if not results[s.path]["ok"]]
    (args.out / "index.csv").write_text(
        "".join(f"{results[s.path]['output']} {s.label}\n" for s in ok))
    (args.out / "failures.json").write_text(json.dumps(failures, indent=1))
    print(f"{len(ok)} of {len(samples)} videos re-encoded; {len(failures)} failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
