"""Reading checkpoint files: torch pickles (official and training checkpoints) and safetensors.

Every failure is re-raised as a `CheckpointError` naming the file and what went wrong, so a
truncated download never surfaces as an anonymous `KeyError: 101` from deep inside torch.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from vjepa.checkpoints.checksums import verify_state, verify_tensors
from vjepa.checkpoints.errors import CheckpointError, write_failure

SAFETENSORS_SUFFIX = ".safetensors"
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(str(path), "no such file")
    if not path.is_file():
        raise CheckpointError(str(path), "not a regular file")
    if path.stat().st_size == 0:
        raise CheckpointError(str(path), "empty file (0 bytes)")
    return path


def _check_torch_file(path: Path) -> None:
    """A torch.save file is a zip archive (torch >= 1.6) or a pickle (legacy format, first
    byte the pickle PROTO opcode); anything else (an index file, a video) is no checkpoint."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK") or head[:1] == b"\x80":
        return
    what = "text" if _is_text(head) else "binary data"
    raise CheckpointError(
        str(path), f"not a checkpoint: torch checkpoints are zip archives or pickles, this file "
        f"starts with {head!r} ({what}; an index file or a video passed as the checkpoint?)")


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_torch_checkpoint(path: str | Path, trust_pickle: bool = False) -> dict[str, Any]:
    """`torch.load` to CPU, `weights_only=True` unless `trust_pickle`.

    Zip-format files (every torch.save since 1.6) are memory-mapped, so only the tensors that
    are used are read: an official file's optimizer state never reaches memory.

    Raises:
        CheckpointError: missing/empty file, truncated or corrupted archive, a file that needs
            arbitrary unpickling (with how to allow it), or a top level that is not a dict.
    """
    path = _existing_file(path)
    _check_torch_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle,
                         mmap=zipfile.is_zipfile(path))  # zip files: read tensors lazily
    except pickle.UnpicklingError as error:
        if not trust_pickle and "Weights only load failed" in str(error):
            raise CheckpointError(
                str(path),
                "holds Python objects beyond tensors and plain values, which weights_only "
                "loading refuses; if you trust the file, pass trust_pickle=True "
                f"(first line of torch's message: {str(error).splitlines()[0]})",
            ) from error
        raise CheckpointError(str(path), f"corrupted checkpoint ({error})") from error
    except Exception as error:  # torch raises OSError, KeyError, RuntimeError, EOFError, ...
        raise CheckpointError(
            str(path),
            f"cannot read checkpoint, the file is truncated or corrupted "
            f"({type(error).__name__}: {error})",
        ) from error
    if not isinstance(obj, dict):
        raise CheckpointError(str(path), f"top level is a {type(obj).__name__}, expected a dict")
    verify_state(obj, str(path))  # this project's files carry checksums; others have none
    return obj


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata of a safetensors file (CPU)."""
    from safetensors import safe_open

    path = _existing_file(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as error:  # SafetensorError, OSError on truncated/corrupted files
        raise CheckpointError(
            str(path),
            f"cannot read safetensors file, truncated or corrupted "
            f"({type(error).__name__}: {error})",
        ) from error
    verify_tensors(tensors, metadata, str(path))
    return tensors, metadata


def export_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, config) of an export given its folder or its weights file."""
    path = Path(path)
    weights = path / EXPORT_WEIGHTS if path.is_dir() else path
    return weights, weights.with_name(EXPORT_CONFIG)


def read_export(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], Path]:
    """Weights and config of a `vjepa export` folder (or its .safetensors file).

    The config is read from `config.json` beside the weights and must agree with the copy
    embedded in the safetensors metadata (either one alone is enough).
    """
    weights, config_path = export_paths(path)
    tensors, metadata = read_safetensors(weights)
    embedded = json.loads(metadata["config"]) if "config" in metadata else None
    config = None
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as error:
            raise CheckpointError(str(config_path), f"invalid JSON ({error})") from error
    if config is not None and embedded is not None and config != embedded:
        raise CheckpointError(
            str(config_path), f"disagrees with the config embedded in {weights.name}"
        )
    config = config if config is not None else embedded
    if config is None:
        raise CheckpointError(
            str(weights), f"no config: neither {config_path.name} nor embedded metadata"
        )
    return tensors, config, weights


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask can only
    be read by setting it, which briefly affects other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _respect_umask(tmp: Path) -> None:
    """Give a written file the mode a plain open() would (0644 under the usual umask 022):
    some writers (safetensors) create private 0600 files."""
    if tmp.is_file():
        os.chmod(tmp, 0o666 & ~current_umask())


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's contents (a folder: its entries, e.g. a rename) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    The one atomic write of the package (checkpoints, exports, feature files, reports): the
    block writes the temporary file, which is then fsync'ed, renamed over `path`, and the
    folder fsync'ed, so that after a crash (even a power loss) `path` is either the old file
    or the complete new one, never a torn one. A failed write (disk full, read-only folder)
    raises `WriteError` naming `path` and the cause.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")  # (writers that go
    try:                                                   # by the suffix: video containers)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            _respect_umask(tmp)
            fsync_path(tmp)
            os.replace(tmp, path)
            fsync_path(path.parent)
        except Exception as error:
            failure = write_failure(str(path), error)
            if failure is None or failure is error:
                raise
            raise failure from error
    finally:
        if tmp.exists():  # (a bare unlink on a read-only folder would mask the real error)
            tmp.unlink()
