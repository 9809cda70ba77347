#!/usr/bin/env python
"""Decode-test every video of an index in parallel; write a clean index and a report.

Outputs in --out:
    check_log.jsonl   one line per file as it finishes (the run resumes from it)
    report.json       counts per reason and, per bad file, its reason and detail
    report.csv        path, label, ok, reason, num_frames, fps, width, height (every file)
    clean.csv         the index without the bad (and, with --min-frames, the short) files

Example:
    python data_prep/check_videos.py /data/k400_index/train.csv --out /data/k400_check \\
        --workers 16 --min-frames 64

Exit status 1 (with a warning) when no file is good.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import sys
from collections import Counter
from pathlib import Path

from vjepa.data.decoders import BACKENDS, DEFAULT_BACKEND
from vjepa.data.index import VIDEO_EXTENSIONS, load_samples
from vjepa.data.prep import probe_video, run_resumable


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", type=Path, help="index file (path label) or class folder tree")
    parser.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    parser.add_argument("--workers", type=int, default=4, help="processes")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND)
    parser.add_argument("--frames", type=int, default=16,
                        help="frames decoded per file, spread to the last one")
    parser.add_argument("--full", action="store_true", help="decode every frame")
    parser.add_argument("--min-frames", type=int, default=0,
                        help="also drop videos with fewer frames (reason too_short)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    samples = load_samples(args.index, VIDEO_EXTENSIONS)
    probe = functools.partial(probe_video, backend=args.backend, num_frames=args.frames,
                              full=args.full, timeout_s=args.timeout)
    results = run_resumable(probe, [s.path for s in samples], args.out / "check_log.jsonl",
                            args.workers, "check")
    clean, counts, bad = [], Counter(), []
    with open(args.out / "report.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "ok", "reason", "num_frames", "fps", "width", "height"])
        for sample in samples:
            r = dict(results[sample.path])
            if r["ok"] and r["num_frames"] < args.min_frames:
                r.update(ok=False, reason="too_short", detail=f"{r['num_frames']} frames")
            writer.writerow([sample.path, sample.label, int(r["ok"]), r["reason"],
                             r.get("num_frames", ""), r.get("fps", ""), r.get("width", ""),
                             r.get("height", "")])
            if r["ok"]:
                clean.append(f"{sample.path} {sample.label}\n")
            else:
                counts[r["reason"]] += 1
                bad.append({"path": sample.path, "reason": r["reason"], "detail": r["detail"]})
    (args.out / "clean.csv").write_text("".join(clean))
    report = {"files": len(samples), "good": len(clean), "bad": len(bad),
              "counts": dict(sorted(counts.items())), "bad_files": bad}
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(f"{len(clean)} of {len(samples)} files good; bad by reason: {dict(counts)}")
    return 0 if clean else nothing_good(report, args.min_frames)


def nothing_good(report: dict, min_frames: int) -> int:
    """Warn (with the likely cause) that the clean index is empty; exit status 1."""
    hint = ""
    if report["counts"].get("too_short"):
        hint = (f" {report['counts']['too_short']} were shorter than --min-frames {min_frames}:"
                " lower it to the frames one clip needs (frames_per_clip x frame_step).")
    print(f"warning: no good file among {report['files']}; clean.csv is empty.{hint}",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
