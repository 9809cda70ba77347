"""vjepa: Joint-Embedding Predictive Architectures (I-JEPA, V-JEPA) from one shared core.

The public API is imported lazily so that `import vjepa` stays light:

    from vjepa import load_pretrained, extract_features
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_pretrained": "vjepa.pretrained",
    "Pretrained": "vjepa.pretrained",
    "Preprocessing": "vjepa.pretrained",
    "extract_features": "vjepa.features",
    "Features": "vjepa.features",
    "CheckpointError": "vjepa.checkpoints.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vjepa' has no attribute {name!r}")
