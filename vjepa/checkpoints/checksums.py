"""Content checksums of the tensors (and plain values) in this project's checkpoints and exports.

torch's zip reader and safetensors check no CRC: a flipped byte inside a tensor loads without
error. Every file this project writes therefore records a CRC-32 of each tensor's bytes (and,
for training checkpoints, of the plain values beside them) and every reader verifies them,
naming the file and the first tensor that differs. CRC-32 catches accidental corruption (bad
disks, truncated copies, bit rot); it is not a defence against someone who edits the file on
purpose (`weights_only` loading is what keeps such a file from running code).

Training checkpoints keep the table under the top-level key ``"checksums"``
(``{"tensors": {dotted name: crc}, "plain": crc}``); safetensors files in their metadata, as
JSON under ``"vjepa_checksums"``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from vjepa.checkpoints.errors import CheckpointError

KEY = "checksums"  # top-level key of a training checkpoint
METADATA_KEY = "vjepa_checksums"  # safetensors metadata entry


class ChecksumMismatchError(CheckpointError):
    """A tensor's content differs from the checksum recorded when the file was written."""


def tensor_crc(tensor: torch.Tensor) -> int:
    """CRC-32 of a tensor's bytes (dtype and shape are checked by the reader's strict load)."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return zlib.crc32(memoryview(flat.view(torch.uint8).numpy()))


def _walk(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, leaf) of every leaf in nested dicts / lists / tuples."""
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _walk(value, f"{prefix}{key}.")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _walk(value, f"{prefix}{i}.")
    else:
        yield prefix[:-1], obj


def _plain_crc(leaves: list[tuple[str, Any]]) -> int:
    text = json.dumps([[name, value] for name, value in leaves], default=repr, sort_keys=True)
    return zlib.crc32(text.encode())


def state_checksums(state: Mapping[str, Any]) -> dict[str, Any]:
    """The checksum table of a checkpoint dict (every entry but ``"checksums"`` itself)."""
    tensors, plain = {}, []
    for name, leaf in _walk({k: v for k, v in state.items() if k != KEY}):
        if isinstance(leaf, torch.Tensor):
            tensors[name] = tensor_crc(leaf)
        else:
            plain.append((name, leaf))
    return {"tensors": tensors, "plain": _plain_crc(plain)}


def with_checksums(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a checkpoint dict with its checksum table (what `torch.save` should write)."""
    return {**state, KEY: state_checksums(state)}


def verify_state(state: Mapping[str, Any], path: str) -> bool:
    """Check a loaded checkpoint dict against its table; False when it has none (an older file).

    Raises:
        ChecksumMismatchError: naming `path` and the first tensor (or the plain values) that
            differ, or tensors added / missing since the write.
    """
    stored = state.get(KEY)
    if stored is None:
        return False
    found = state_checksums(state)
    _compare(stored["tensors"], found["tensors"], path)
    if int(stored["plain"]) != found["plain"]:
        raise ChecksumMismatchError(path, "its non-tensor values (step, config, RNG, ...) fail "
                                          "their checksum: the file is corrupted")
    return True


def _compare(stored: Mapping[str, Any], found: Mapping[str, int], path: str) -> None:
    missing = sorted(set(stored) - set(found))
    extra = sorted(set(found) - set(stored))
    if missing or extra:
        raise ChecksumMismatchError(path, f"tensors missing since the write {missing[:5]}, "
                                          f"unrecorded tensors {extra[:5]}: the file is corrupted")
    for name, crc in stored.items():
        if int(crc) != found[name]:
            raise ChecksumMismatchError(
                path, f"tensor {name!r} fails its checksum (recorded crc32 {int(crc):08x}, "
                      f"content {found[name]:08x}): the file is corrupted")


def metadata_with_checksums(tensors: Mapping[str, torch.Tensor],
                            metadata: Mapping[str, str] | None = None) -> dict[str, str]:
    """safetensors metadata plus the CRC-32 of every tensor (pass to `save_file`)."""
    table = {name: tensor_crc(t) for name, t in tensors.items()}
    return {**(metadata or {}), METADATA_KEY: json.dumps(table, sort_keys=True)}


def verify_tensors(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str],
                   path: str) -> bool:
    """Check safetensors contents against their metadata table; False when there is none."""
    if METADATA_KEY not in metadata:
        return False
    try:
        stored = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ChecksumMismatchError(path, f"unreadable checksum table ({error})") from error
    _compare(stored, {name: tensor_crc(t) for name, t in tensors.items()}, path)
    return True
