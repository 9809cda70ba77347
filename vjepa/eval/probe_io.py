"""Reading attentive-probe files of either official layout, strictly, in a named block order.

- V-JEPA (facebookresearch/jepa) and this project's `probe/chosen.pt`: {"classifier": state
  dict} (keys `module.pooler.*`, `module.linear.*`).
- V-JEPA 2 (facebookresearch/vjepa2): {"classifiers": [state dict per head], ...}; pick a
  head with `index`.
A file does not say its block order (both layouts use the same key names), so the caller
names it; a V-JEPA 2 probe has no `xattn.proj`, so loading it as "vjepa" fails strictly.
"""

from __future__ import annotations

from pathlib import Path

from vjepa.checkpoints.errors import CheckpointError
from vjepa.checkpoints.infer import infer_probe
from vjepa.checkpoints.io import read_torch_checkpoint
from vjepa.checkpoints.layouts import strip_wrappers
from vjepa.checkpoints.strict import build_loaded
from vjepa.models.attentive_probe import AttentiveClassifier, BlockOrder


def _state(ckpt: dict, path: str, index: int | None) -> dict:
    if "classifiers" in ckpt:
        heads = ckpt["classifiers"]
        if index is None and len(heads) != 1:
            raise CheckpointError(path, f"holds {len(heads)} probe heads; pass index= "
                                  f"(0..{len(heads) - 1})")
        if index is not None and not 0 <= index < len(heads):
            raise CheckpointError(path, f"index {index} out of range for {len(heads)} heads")
        return heads[index or 0]
    if "classifier" in ckpt:
        if index not in (None, 0):
            raise CheckpointError(path, f"holds one probe; index {index} does not exist")
        return ckpt["classifier"]
    raise CheckpointError(path, f"no 'classifier' or 'classifiers' entry; keys {sorted(ckpt)}")


def load_probe(path: str | Path, order: BlockOrder, index: int | None = None,
               num_heads: int | None = None, apply_proj: bool = False,
               trust_pickle: bool = False) -> AttentiveClassifier:
    """The probe of an official-layout file, loaded strictly, in eval mode."""
    path = str(path)
    ckpt = read_torch_checkpoint(path, trust_pickle=trust_pickle)
    state = strip_wrappers(_state(ckpt, path, index), path)
    arch = infer_probe(state, path, num_heads, apply_proj)

    def build() -> AttentiveClassifier:
        return AttentiveClassifier(arch.embed_dim, arch.num_heads, arch.num_classes,
                                   mlp_ratio=arch.mlp_ratio, depth=arch.depth,
                                   qkv_bias=arch.qkv_bias, apply_proj=apply_proj, order=order)

    return build_loaded(build, state, path, f"attentive probe ({order} order)").eval()
