"""Probe core: both block orders against a direct re-implementation of the official forwards,
official-layout state dicts loading strictly, the multi-head sweep against separate probes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from official_fakes import _block, probe_state

from vjepa.eval import fit
from vjepa.eval.probes import ProbeSpec, build_probe
from vjepa.eval.sweep import HeadConfig, ProbeSweep, grid
from vjepa.models.attentive_probe import AttentiveClassifier


def _ln(x: torch.Tensor, sd: dict, name: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], 1e-5)


def _lin(x: torch.Tensor, sd: dict, name: str) -> torch.Tensor:
    return x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]


def _heads_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int
                     ) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_h)) v head by head, sample by sample (no fused kernels)."""
    out = torch.zeros(q.shape[0], q.shape[1], v.shape[-1])
    hd = q.shape[-1] // heads
    for b in range(q.shape[0]):
        for h in range(heads):
            sl = slice(h * hd, (h + 1) * hd)
            att = torch.softmax(q[b, :, sl] @ k[b, :, sl].T / hd**0.5, dim=-1)
            out[b, :, sl] = att @ v[b, :, sl]
    return out


def _official_block(x: torch.Tensor, sd: dict, p: str, heads: int) -> torch.Tensor:
    """Official Block: x + proj(attn(norm1 x)), then x + fc2(gelu(fc1(norm2 x)))."""
    d = x.shape[-1]
    qkv = _lin(_ln(x, sd, f"{p}norm1"), sd, f"{p}attn.qkv")
    att = _heads_attention(qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :], heads)
    x = x + _lin(att, sd, f"{p}attn.proj")
    return x + _lin(F.gelu(_lin(_ln(x, sd, f"{p}norm2"), sd, f"{p}mlp.fc1")), sd, f"{p}mlp.fc2")


def _official_cross(q: torch.Tensor, x: torch.Tensor, sd: dict, heads: int) -> torch.Tensor:
    """Official CrossAttentionBlock (jepa and vjepa2 alike: xattn.proj never applied)."""
    p, d = "pooler.cross_attention_block.", x.shape[-1]
    kv = _lin(_ln(x, sd, f"{p}norm1"), sd, f"{p}xattn.kv")
    q = q + _heads_attention(_lin(q, sd, f"{p}xattn.q"), kv[..., :d], kv[..., d:], heads)
    return q + _lin(F.gelu(_lin(_ln(q, sd, f"{p}norm2"), sd, f"{p}mlp.fc1")), sd, f"{p}mlp.fc2")


def official_forward(x: torch.Tensor, sd: dict, heads: int, order: str) -> torch.Tensor:
    """jepa's AttentivePooler.forward ("vjepa") or vjepa2's ("vjepa2"), then the linear head."""
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    depth = 1 + len({k.split(".")[2] for k in sd if k.startswith("pooler.blocks.")})
    q = sd["pooler.query_tokens"].expand(len(x), 1, -1)
    blocks = [f"pooler.blocks.{i}." for i in range(depth - 1)]
    if order == "vjepa2":
        for p in blocks:
            x = _official_block(x, sd, p, heads)
        q = _official_cross(q, x, sd, heads)
    else:
        q = _official_cross(q, x, sd, heads)
        for p in blocks:
            q = _official_block(q, sd, p, heads)
    return _lin(q[:, 0], sd, "linear")


def official_state(order: str, width: int, blocks: int, classes: int) -> dict:
    """An official-layout probe state dict; vjepa2's has no xattn.proj."""
    sd = probe_state(width=width, num_classes=classes)
    gen = torch.Generator().manual_seed(7)
    for i in range(blocks):
        sd.update(_block(gen, f"module.pooler.blocks.{i}.", width, 4 * width))
    if order == "vjepa2":
        sd = {k: v for k, v in sd.items() if "xattn.proj" not in k}
    return sd


@pytest.mark.parametrize("order", ["vjepa", "vjepa2"])
@pytest.mark.parametrize("blocks", [0, 2])
def test_official_layout_loads_strictly_and_matches(order: str, blocks: int) -> None:
    sd = official_state(order, width=48, blocks=blocks, classes=6)
    model = AttentiveClassifier(48, num_heads=4, num_classes=6, depth=1 + blocks,
                                apply_proj=False, order=order)
    model.load_state_dict({k.removeprefix("module."): v for k, v in sd.items()}, strict=True)
    x = torch.randn(3, 10, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = model(x)
    torch.testing.assert_close(got, official_forward(x, sd, 4, order), atol=1e-4, rtol=1e-4)


def test_block_orders_differ_and_keep_shapes() -> None:
    x = torch.randn(2, 9, 32)
    outs = {}
    for order in ("vjepa", "vjepa2"):
        m = build_probe(ProbeSpec(order=order, depth=3, num_heads=4), 32, 5, seed=0)
        assert m.pooler(x).shape == (2, 1, 32) and m(x).shape == (2, 5)
        outs[order] = m
    assert "pooler.cross_attention_block.xattn.proj.weight" not in outs["vjepa2"].state_dict()
    assert "pooler.cross_attention_block.xattn.proj.weight" in outs["vjepa"].state_dict()
    with pytest.raises(ValueError, match="order"):
        ProbeSpec(order="vjepa3")
    with pytest.raises(ValueError, match="apply_proj"):
        AttentiveClassifier(32, 4, 5, apply_proj=True, order="vjepa2")


def _toy(n: int = 24, classes: int = 3, tokens: int = 5, dim: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, tokens, dim, generator=gen) + F.one_hot(y, dim)[:, None].float() * 2
    return x, y


@pytest.mark.parametrize("kind", ["attentive", "linear"])
def test_sweep_equals_separately_trained_probes(kind: str) -> None:
    x, y = _toy()
    if kind == "linear":
        x = fit.pool_tokens(x)
    spec = ProbeSpec(kind, order="vjepa2", depth=2, num_heads=2)
    heads = grid([1e-2, 1e-3], [0.01, 0.4])
    together = fit.fit_sweep(x, y, 3, spec, heads, epochs=2, batch_size=8, seed=3)
    for h, cfg in enumerate(heads):
        alone = fit.fit_sweep(x, y, 3, spec, [cfg], epochs=2, batch_size=8, seed=3)
        for (name, a), b in zip(together.heads[h].state_dict().items(),
                                alone.heads[0].state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0, msg=name)
    a, b = together.heads[0].state_dict(), together.heads[1].state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # different lr -> different weights


def test_views_average_softmax_and_loss() -> None:
    x, y = _toy(n=6)
    sweep = ProbeSweep(ProbeSpec(num_heads=2), 16, 3, [HeadConfig()], total_steps=4)
    views = torch.stack([x, x.flip(1), x * 0.5], dim=1)  # [B, 3 views, N, D]
    want = torch.stack([sweep.heads[0](views[:, v]).softmax(-1) for v in range(3)]).mean(0)
    torch.testing.assert_close(sweep.predict(views)[0], want.detach())


def test_schedule_is_official_per_head() -> None:
    sweep = ProbeSweep(ProbeSpec("linear"), 4, 2, [HeadConfig(lr=0.1, weight_decay=0.01)],
                       total_steps=10)
    x, y = torch.randn(4, 4), torch.tensor([0, 1, 0, 1])
    for _ in range(10):
        sweep.train_step(x, y)
    groups = sweep.optimizers[0].param_groups
    assert groups[0]["lr"] == pytest.approx(0.0) and groups[0]["weight_decay"] == 1e-6
    assert groups[1]["weight_decay"] == 0.0  # bias: no decay (V-JEPA 1)


def test_probe_picks_head_on_holdout_and_learns() -> None:
    x, y = _toy(n=60)
    tx, ty = _toy(n=30, seed=1)
    res = fit.probe(x, y, tx, ty, 3, ProbeSpec(num_heads=2), heads=grid([1e-2, 1e-6], [0.01]),
                    epochs=5, batch_size=10)
    assert res.holdout_top1 is not None and len(res.per_head_test) == 2
    assert res.chosen == max(range(2), key=res.holdout_top1.__getitem__)
    assert res.chosen_test["num_evaluated"] == 30 and res.chosen_test["top1"] > 80
    lin = fit.linear(fit.pool_tokens(x), y, fit.pool_tokens(tx), ty, 3, epochs=30,
                     heads=[HeadConfig(lr=5e-2)])
    assert lin.chosen == 0 and lin.holdout_top1 is None and lin.chosen_test["top1"] > 80


@pytest.mark.parametrize("order", ["vjepa", "vjepa2"])
def test_official_probe_files_load_strictly_in_the_named_order(tmp_path, order: str) -> None:
    from vjepa.checkpoints.errors import CheckpointError, StateDictMismatchError
    from vjepa.eval.probe_io import load_probe

    sds = [official_state(order, width=48, blocks=2, classes=6) for _ in range(2)]
    if order == "vjepa":
        torch.save({"classifier": sds[0], "epoch": 20}, tmp_path / "p.pt")
    else:
        torch.save({"classifiers": sds, "epoch": 20}, tmp_path / "p.pt")
    model = load_probe(tmp_path / "p.pt", order, index=0 if order == "vjepa2" else None,
                       num_heads=4)
    x = torch.randn(2, 7, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), official_forward(x, sds[0], 4, order),
                                   atol=1e-4, rtol=1e-4)
    other = "vjepa2" if order == "vjepa" else "vjepa"
    with pytest.raises(StateDictMismatchError, match="xattn.proj"):
        load_probe(tmp_path / "p.pt", other, index=0, num_heads=4)
    if order == "vjepa2":
        with pytest.raises(CheckpointError, match="pass index"):
            load_probe(tmp_path / "p.pt", order, num_heads=4)
