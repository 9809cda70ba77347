"""Attentive probe: against a slow reference, official probe files, the xattn.proj quirk."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from official_fakes import probe_file, probe_state

from vjepa.checkpoints.errors import CheckpointError, StateDictMismatchError
from vjepa.models.attentive_probe import AttentiveClassifier, AttentivePooler
from vjepa.pretrained import load_pretrained


def _ln(x: torch.Tensor, sd: dict, name: str, eps: float = 1e-5) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], eps)


def _lin(x: torch.Tensor, sd: dict, name: str) -> torch.Tensor:
    return x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]


def reference_classifier(x: torch.Tensor, sd: dict, heads: int, apply_proj: bool) -> torch.Tensor:
    """The official attentive classifier written out loop by loop (depth 1)."""
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    p = "pooler.cross_attention_block."
    b, n, d = x.shape
    hd = d // heads
    q = sd["pooler.query_tokens"].expand(b, 1, d)
    kv_in = _ln(x, sd, f"{p}norm1")
    qp, kv = _lin(q, sd, f"{p}xattn.q"), _lin(kv_in, sd, f"{p}xattn.kv")
    k, v = kv[..., :d], kv[..., d:]
    out = torch.zeros(b, 1, d)
    for bi in range(b):
        for h in range(heads):
            sl = slice(h * hd, (h + 1) * hd)
            att = torch.softmax(qp[bi, :, sl] @ k[bi, :, sl].T / hd**0.5, dim=-1)
            out[bi, :, sl] = att @ v[bi, :, sl]
    if apply_proj:
        out = _lin(out, sd, f"{p}xattn.proj")
    q = q + out
    hidden = F.gelu(_lin(_ln(q, sd, f"{p}norm2"), sd, f"{p}mlp.fc1"))
    q = q + _lin(hidden, sd, f"{p}mlp.fc2")
    return _lin(q[:, 0], sd, "linear")


@pytest.mark.parametrize("apply_proj", [False, True])
def test_classifier_matches_reference(apply_proj: bool) -> None:
    sd = probe_state(width=96, num_classes=7)
    model = AttentiveClassifier(96, num_heads=4, num_classes=7, apply_proj=apply_proj)
    model.load_state_dict({k.removeprefix("module."): v for k, v in sd.items()}, strict=True)
    x = torch.randn(3, 10, 96, generator=torch.Generator().manual_seed(0))
    want = reference_classifier(x, sd, heads=4, apply_proj=apply_proj)
    torch.testing.assert_close(model(x), want, atol=1e-5, rtol=1e-5)


def test_official_probe_loads_strictly_without_proj(tmp_path) -> None:
    path = probe_file(tmp_path / "k400-probe.pth.tar", width=192, num_classes=5)
    pre = load_pretrained(path)
    assert pre.layout == "probe" and pre.which == "classifier" and pre.epoch == 20
    assert pre.arch.num_heads == 3 and pre.arch.num_classes == 5 and pre.arch.depth == 1
    assert pre.arch.apply_proj is False and not pre.model.training
    x = torch.randn(2, 12, 192, generator=torch.Generator().manual_seed(1))
    sd = probe_state(width=192, num_classes=5)
    with torch.no_grad():
        got = pre.model(x)
        corrected = load_pretrained(path, apply_proj=True).model(x)
    torch.testing.assert_close(got, reference_classifier(x, sd, 3, False), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, corrected, atol=1e-3)  # the quirk changes the output


def test_probe_with_self_attention_blocks(tmp_path) -> None:
    pre = load_pretrained(probe_file(tmp_path / "p.pt", width=192, extra_blocks=2))
    assert pre.arch.depth == 3 and len(pre.model.pooler.blocks) == 2
    assert pre.model(torch.randn(2, 5, 192)).shape == (2, 5)


def test_probe_width_outside_registry_needs_heads(tmp_path) -> None:
    path = probe_file(tmp_path / "p.pt", width=96)
    with pytest.raises(CheckpointError, match="pass num_heads") as info:
        load_pretrained(path)
    assert str(path) in str(info.value)
    assert load_pretrained(path, num_heads=4).arch.num_heads == 4


def test_probe_unexpected_key_is_listed(tmp_path) -> None:
    sd = probe_state()
    sd["module.pooler.extra_scale"] = torch.ones(1)
    torch.save({"classifier": sd}, tmp_path / "p.pt")
    with pytest.raises(StateDictMismatchError, match="pooler.extra_scale") as info:
        load_pretrained(tmp_path / "p.pt")
    assert info.value.unexpected == ["pooler.extra_scale"] and not info.value.missing


def test_pooler_rejects_wrong_width() -> None:
    pooler = AttentivePooler(64, num_heads=4, num_queries=2)
    assert pooler(torch.randn(2, 9, 64)).shape == (2, 2, 64)
    with pytest.raises(ValueError, match=r"\[B, N, 64\]"):
        pooler(torch.randn(2, 9, 32))
