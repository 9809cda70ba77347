"""The `speed` levers: each reaches what training builds, and each gives the plain path's loss,
gradients and updates (float64 or float tolerance) on a tiny V-JEPA and a tiny I-JEPA."""

from __future__ import annotations

import copy

import pytest
import torch
from train_helpers import load_latest, run_here, tiny_overrides

from vjepa.models.packing import packed_predictions, pad_stack
from vjepa.smoke import tiny_jepa
from vjepa.train.optim import build_optimizer, is_fused, load_optimizer_state
from vjepa.train.speed import Speed, apply, compile_blocks, resolve


def batch(frames: int, size: int = 4) -> tuple[torch.Tensor, list, list]:
    torch.manual_seed(0)
    model, collator = tiny_jepa(frames)
    shape = (size, 3, frames, 64, 64) if frames > 1 else (size, 3, 64, 64)
    enc, pred = collator.masks(0, size)
    return torch.randn(shape, dtype=torch.float64), enc, pred


def loss_and_grads(model: torch.nn.Module, x: torch.Tensor, enc: list, pred: list
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = model(x, enc, pred).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                           if p.grad is not None}


def plain_model(frames: int) -> torch.nn.Module:
    torch.manual_seed(1)
    model, _ = tiny_jepa(frames)
    return model.double()


def assert_close_grads(a: dict, b: dict, **tol: float) -> None:
    assert a.keys() == b.keys() and a
    for name in a:
        torch.testing.assert_close(a[name], b[name], **tol, msg=name)


def test_auto_is_fast_on_cuda_and_plain_on_cpu():
    assert resolve(None, torch.device("cpu")) == Speed()
    assert resolve(None, torch.device("cuda")) == Speed(True, "blocks", False, "predictor")
    cfg = type("S", (), {"fused_adamw": "off", "compile": "auto",
                         "activation_checkpointing": True, "pack": "pad"})()
    assert resolve(cfg, torch.device("cuda")) == Speed(False, "blocks", True, "pad")


@pytest.mark.parametrize("frames", [1, 4])
def test_activation_checkpointing_gives_the_same_loss_and_grads(frames):
    x, enc, pred = batch(frames)
    plain = plain_model(frames)
    fast = apply(copy.deepcopy(plain), Speed(activation_checkpointing=True))
    assert fast.encoder.grad_checkpointing and fast.predictor.grad_checkpointing
    loss_a, grads_a = loss_and_grads(plain, x, enc, pred)
    loss_b, grads_b = loss_and_grads(fast, x, enc, pred)
    assert torch.equal(loss_a, loss_b)
    assert_close_grads(grads_a, grads_b, rtol=0, atol=0)


def test_fused_adamw_updates_as_the_plain_adamw_on_cpu():
    x, enc, pred = batch(4)
    models = [plain_model(4).float() for _ in range(2)]
    opts = [build_optimizer({"encoder": m.encoder, "predictor": m.predictor}, fused=f)
            for m, f in zip(models, (False, True), strict=True)]
    assert not is_fused(opts[0]) and is_fused(opts[1])
    for _ in range(3):
        for model, opt in zip(models, opts, strict=True):
            loss_and_grads(model, x.float(), enc, pred)
            opt.step()
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("frames", [1, 4])
def test_compiled_blocks_give_the_same_loss_and_grads(frames):
    x, enc, pred = batch(frames)
    plain = plain_model(frames)
    fast = copy.deepcopy(plain)
    compile_blocks(fast, backend="aot_eager")  # the graphs torch.compile makes, no C compiler
    assert all(blk._compiled_call_impl is not None for blk in fast.encoder.blocks)
    assert fast.state_dict().keys() == plain.state_dict().keys()
    loss_a, grads_a = loss_and_grads(plain, x, enc, pred)
    loss_b, grads_b = loss_and_grads(fast, x, enc, pred)
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-12, atol=1e-12)
    assert_close_grads(grads_a, grads_b, rtol=1e-10, atol=1e-12)


def test_vjepa_train_builds_with_the_speed_keys(tmp_path):
    """speed.* on the command line reaches the optimizer and the model of `vjepa train`; with
    activation checkpointing the weights after training are those of the plain run."""
    runs = {}
    for name, extra in (("plain", []), ("fast", ["speed.fused_adamw=off",
                                                 "speed.activation_checkpointing=true"]),
                        ("fused", ["speed.fused_adamw=on"])):
        run_here(tiny_overrides(tmp_path / name, tmp_path / "cache", steps=4) + extra)
        runs[name] = load_latest(tmp_path / name)
    assert [g["fused"] for g in runs["fused"]["optimizer"]["param_groups"]] == [True] * 4
    assert not any(g["fused"] for g in runs["plain"]["optimizer"]["param_groups"])
    for key, value in runs["plain"]["encoder"].items():
        assert torch.equal(value, runs["fast"]["encoder"][key]), key
        torch.testing.assert_close(value, runs["fused"]["encoder"][key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pack", ["pad", "predictor"])
@pytest.mark.parametrize("frames", [1, 4])
def test_packed_groups_give_the_per_group_loss_and_grads(frames, pack):
    x, enc, pred = batch(frames)
    if frames > 1:  # the two V-JEPA mask configurations give contexts of different lengths
        assert enc[0][0].shape[1] != enc[1][0].shape[1]
    plain = plain_model(frames)
    fast = apply(copy.deepcopy(plain), Speed(pack=pack))
    assert fast.pack == pack
    loss_a, grads_a = loss_and_grads(plain, x, enc, pred)
    loss_b, grads_b = loss_and_grads(fast, x, enc, pred)
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-13, atol=1e-14)
    assert_close_grads(grads_a, grads_b, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("pack_encoder", [True, False])
def test_packed_predictions_equal_each_group_alone(pack_encoder):
    x, enc, pred = batch(4)
    model = plain_model(4)
    with torch.no_grad():
        alone = [model.predictor(model.encoder(x, e), e, p, mask_index=g)
                 for g, (e, p) in enumerate(zip(enc, pred, strict=True))]
        packed = packed_predictions(model.encoder, model.predictor, x, enc, pred,
                                    pack_encoder)
    assert [a.shape for a in alone] == [p.shape for p in packed]
    for a, p in zip(alone, packed, strict=True):
        torch.testing.assert_close(a, p, rtol=1e-12, atol=1e-13)


def test_pad_stack_masks_exactly_the_padding():
    seqs = [torch.ones(2, 3, 1), torch.ones(1, 5, 1)]
    packed, keep = pad_stack(seqs)
    assert packed.shape == (3, 5, 1) and keep.shape == (3, 1, 1, 5)
    assert keep[:, 0, 0].sum(1).tolist() == [3, 3, 5]
    assert packed[:2, 3:].abs().sum() == 0
    assert pad_stack([torch.ones(2, 3, 1)] * 2)[1] is None


FAST = ["speed.fused_adamw=on", "speed.pack=pad", "speed.activation_checkpointing=true"]


def test_fast_path_run_resumes_bit_identically_and_matches_the_plain_run(tmp_path):
    cache = tmp_path / "cache"
    run_here(tiny_overrides(tmp_path / "plain", cache, steps=4))
    run_here(tiny_overrides(tmp_path / "fast", cache, steps=4) + FAST)
    run_here(tiny_overrides(tmp_path / "cut", cache, steps=4) + FAST + ["optim.max_steps=2"])
    assert load_latest(tmp_path / "cut")["step"] == 2
    run_here(tiny_overrides(tmp_path / "cut", cache, steps=4) + FAST)
    plain, fast, cut = (load_latest(tmp_path / n) for n in ("plain", "fast", "cut"))
    assert cut["step"] == fast["step"] == 4
    for part in ("encoder", "predictor", "target_encoder"):
        for key, value in fast[part].items():
            assert torch.equal(value, cut[part][key]), (part, key)
            torch.testing.assert_close(value, plain[part][key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("saved_fused", [False, True])
def test_a_resumed_optimizer_takes_this_runs_fused_choice(saved_fused):
    """A run resumed with speed.fused_adamw changed steps with the new choice (the saved
    groups' flag would otherwise make a fused optimizer run the plain kernel, which refuses
    the on-device skip) and continues the same moments."""
    x, enc, pred = batch(4)
    model = plain_model(4).float()
    modules = {"encoder": model.encoder, "predictor": model.predictor}
    first = build_optimizer(modules, fused=saved_fused)
    loss_and_grads(model, x.float(), enc, pred)
    first.step()
    resumed = build_optimizer(modules, fused=not saved_fused)
    load_optimizer_state(resumed, first.state_dict())
    assert all(g["fused"] == (not saved_fused or None) for g in resumed.param_groups)
    assert all(st["step"].item() == 1 for st in resumed.state.values())
    resumed.found_inf = torch.ones(())  # the fused kernel's on-device skip
    if not saved_fused:
        resumed.step()
        assert all(st["step"].item() == 1 for st in resumed.state.values())
    else:
        del resumed.found_inf
        resumed.step()
        assert all(st["step"].item() == 2 for st in resumed.state.values())
