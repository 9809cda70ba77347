#!/usr/bin/env python
"""Build the procedural video (motion direction) or image (shape + count) data set.

Examples:
    python data_prep/make_synthetic.py videos /data/synthetic_videos --num 256 --workers 2
    python data_prep/make_synthetic.py images /data/synthetic_images --num 500

Writes ``index.csv`` (``path label``), ``classes.json`` and a completion marker; rerunning
with the same arguments reuses a complete set and rebuilds an interrupted one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vjepa.data.synthetic import make_synthetic_images, make_synthetic_videos


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["videos", "images"])
    parser.add_argument("root", type=Path, help="output folder")
    parser.add_argument("--num", type=int, default=None,
                        help="number of clips/images (default 256 videos, 500 images)")
    parser.add_argument("--classes", type=int, default=None,
                        help="videos: 2, 4 or 8 directions (8); images: shape kinds 1-5 (5)")
    parser.add_argument("--frames", type=int, default=32, help="videos: frames per clip")
    parser.add_argument("--max-count", type=int, default=4, help="images: most objects")
    parser.add_argument("--max-shapes", type=int, default=1,
                        help="videos: up to this many shapes per clip (1)")
    parser.add_argument("--size", type=int, default=64, help="frame/image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.kind == "videos":
        index = make_synthetic_videos(
            args.root, num_videos=args.num or 256, num_classes=args.classes or 8,
            num_frames=args.frames, size=args.size, seed=args.seed, num_workers=args.workers,
            progress=True, max_shapes=args.max_shapes,
        )
    else:
        index = make_synthetic_images(
            args.root, num_images=args.num or 500, num_classes=args.classes or 5,
            max_count=args.max_count, size=args.size, seed=args.seed, num_workers=args.workers,
            progress=True,
        )
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
