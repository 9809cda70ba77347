"""Sample indexes: the official ``path label`` text/CSV format, folder trees, weighted mixes.

Index file: one ``path label`` per line, space-separated, no header (the official V-JEPA
format; the label is the last field, so a path may contain spaces). Relative paths are
taken relative to the index file's folder. Folder tree: ``root/<class>/<file>``, classes
labelled in sorted name order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".JPEG")


@dataclass(frozen=True)
class Sample:
    path: str
    label: int


def read_index_file(path: str | Path) -> list[Sample]:
    """Parse an index file. Raises ``ValueError`` naming the file and line of a bad row."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"index file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"index file {path} is not text (byte {error.object[error.start]:#04x} "
                         f"at offset {error.start}): an index lists `path label` lines; is it "
                         "a checkpoint or a video given in the place of the index?") from None
    samples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().rsplit(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected 'path label', got {line!r}")
        try:
            label = int(parts[1])
        except ValueError:
            raise ValueError(f"{path}:{number}: label {parts[1]!r} is not an integer") from None
        file = Path(parts[0])
        full = file if file.is_absolute() else os.path.normpath(path.parent / file)
        samples.append(Sample(str(full), label))
    return samples


def list_files(folder: str | Path, extensions: Iterable[str]) -> list[Path]:
    """Every file below `folder` (any depth) whose suffix is one of `extensions` (any case),
    sorted by path: the one folder scan of the package (training sets, extract, make_index)."""
    allowed = {e.lower() for e in extensions}
    return sorted(f for f in Path(folder).rglob("*") if f.suffix.lower() in allowed and f.is_file())


def scan_folder(root: str | Path, extensions: Sequence[str]) -> tuple[list[Sample], list[str]]:
    """``root/<class>/<file>`` -> samples (sorted by class then file) and class names."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    samples = [Sample(str(file), label) for label, name in enumerate(classes)
               for file in list_files(root / name, extensions)]
    if not samples:
        raise ValueError(f"no files with extensions {sorted({e.lower() for e in extensions})} "
                         f"under {root}/<class>/")
    return samples, classes


def load_samples(source: str | Path, extensions: Sequence[str]) -> list[Sample]:
    """An index file or a folder tree."""
    if Path(source).is_dir():
        return scan_folder(source, extensions)[0]
    samples = read_index_file(source)
    if not samples:
        raise ValueError(f"index file {source} lists no samples")
    return samples


def mix_sources(
    sources: Sequence[str | Path],
    weights: Sequence[float] | None,
    extensions: Sequence[str],
) -> tuple[list[Sample], list[float] | None]:
    """Concatenate several indexes; with ``weights``, each sample of source ``k`` gets
    ``weights[k] / len(source k)`` (for a ``WeightedRandomSampler``), as the official mix."""
    if not sources:
        raise ValueError("need at least one index file or folder, got none")
    if weights is not None and (len(weights) != len(sources) or any(w < 0 for w in weights)):
        raise ValueError(f"need one non-negative weight per source: {len(sources)} sources, "
                         f"weights {list(weights)}")
    samples: list[Sample] = []
    sample_weights: list[float] = []
    for k, source in enumerate(sources):
        part = load_samples(source, extensions)
        samples.extend(part)
        if weights is not None:
            sample_weights.extend([weights[k] / len(part)] * len(part))
    return samples, (sample_weights if weights is not None else None)
