#!/usr/bin/env python
"""Scan a video (or image) folder tree into ``path label`` index files and ``classes.json``.

Layouts:
    root/<split>/<class>/<file>   (Kinetics: one index per split, e.g. train.csv, val.csv)
    root/<class>/<file>           (--flat: one index.csv)

Labels follow the sorted class names of the union of all splits, so every split agrees.

Example:
    python data_prep/make_index.py /data/kinetics400 --out /data/k400_index
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from vjepa.data.index import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, list_files


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="folder tree to scan")
    parser.add_argument("--out", type=Path, required=True, help="folder for the index files")
    parser.add_argument("--flat", action="store_true", help="root/<class>/<file>, no splits")
    parser.add_argument("--splits", nargs="*", default=None,
                        help="split folders to index (default: every subfolder of root)")
    parser.add_argument("--images", action="store_true", help="index images, not videos")
    parser.add_argument("--relative", action="store_true",
                        help="write paths relative to --out (default: absolute)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.root.resolve()
    if not root.is_dir():
        raise SystemExit(f"error: {root} is not a folder")
    extensions = {e.lower() for e in (IMAGE_EXTENSIONS if args.images else VIDEO_EXTENSIONS)}
    if args.flat:
        splits = {"index": root}
    else:
        names = args.splits or sorted(d.name for d in root.iterdir() if d.is_dir())
        missing = [n for n in names if not (root / n).is_dir()]
        if missing or not names:
            raise SystemExit(f"error: split folders {missing or names} not found under {root}")
        splits = {name: root / name for name in names}
    classes = sorted({d.name for folder in splits.values() for d in folder.iterdir()
                      if d.is_dir()})
    if not classes:
        raise SystemExit(f"error: no class folders under {sorted(map(str, splits.values()))}")
    labels = {name: i for i, name in enumerate(classes)}
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for split, folder in splits.items():
        lines = []
        present = sorted(d.name for d in folder.iterdir() if d.is_dir())
        for name in tqdm(present, desc=split, unit="class"):
            for file in list_files(folder / name, extensions):
                shown = os.path.relpath(file, out) if args.relative else file
                lines.append(f"{shown} {labels[name]}\n")
        (out / f"{split}.csv").write_text("".join(lines))
        print(f"{split}: {len(lines)} files, {len(present)} classes -> {out / f'{split}.csv'}")
    (out / "classes.json").write_text(json.dumps(labels, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
