"""The shared core: loss, EMA, one optimisation step, official key names and strict loading."""

import pytest
import torch

from vjepa.jepa import JEPA, prediction_loss
from vjepa.masks.multiblock2d import MultiBlock2D
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer
from vjepa.smoke import tiny_jepa


def test_loss_formulas():
    p, t = torch.randn(4, 5, 6), torch.randn(4, 5, 6)
    torch.testing.assert_close(prediction_loss(p, t, "l1"), (p - t).abs().mean())
    torch.testing.assert_close(prediction_loss(p, t, "l1", 2.0), ((p - t) ** 2).mean() / 2)
    d = (p - t).abs()
    ref = torch.where(d < 1, 0.5 * d**2, d - 0.5).mean()
    torch.testing.assert_close(prediction_loss(p, t, "smooth_l1"), ref)
    with pytest.raises(ValueError, match="loss_type"):
        prediction_loss(p, t, "l2")


def test_targets_are_layer_normed_target_encoder_features():
    model, coll = tiny_jepa(4)
    x = torch.randn(2, 3, 4, 64, 64)
    h = model.target_features(x)
    torch.testing.assert_close(h.mean(-1), torch.zeros(h.shape[:2]), atol=1e-5, rtol=0)
    assert not h.requires_grad


def test_loss_matches_manual_v_jepa_computation():
    model, coll = tiny_jepa(4)
    x = torch.randn(2, 3, 4, 64, 64)
    enc, pred = coll.masks(0, 2)
    h = torch.nn.functional.layer_norm(model.target_encoder(x), (96,))
    total = 0.0
    for g in range(2):
        z = model.predictor(model.encoder(x, enc[g]), enc[g], pred[g], mask_index=g)
        tgt = torch.stack([h[b, pred[g][0][b]] for b in range(2)])
        total = total + (z - tgt).abs().mean()
    torch.testing.assert_close(model(x, enc, pred).loss, total / 2, rtol=1e-5, atol=1e-6)


def test_ema_update_math():
    model, _ = tiny_jepa(1)
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in model.target_encoder.parameters()]
    online = [p.clone() for p in model.encoder.parameters()]
    model.update_target(0.9)
    for t, b, o in zip(model.target_encoder.parameters(), before, online, strict=True):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * o)
    with pytest.raises(ValueError, match="momentum"):
        model.update_target(1.5)


@pytest.mark.parametrize("frames", [1, 4])
def test_one_step_lowers_loss_on_the_batch(frames):
    torch.manual_seed(0)
    model, coll = tiny_jepa(frames)
    x = torch.randn((4, 3, frames, 64, 64) if frames > 1 else (4, 3, 64, 64))
    enc, pred = coll.masks(0, 4)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    before = model(x, enc, pred).loss
    before.backward()
    opt.step()
    assert model(x, enc, pred).loss.item() < before.item()
    assert all(p.grad is None for p in model.target_encoder.parameters())


def test_image_and_video_share_the_core_classes():
    img, _ = tiny_jepa(1)
    vid, _ = tiny_jepa(4)
    assert type(img) is type(vid) is JEPA
    assert type(img.encoder) is type(vid.encoder) is VisionTransformer
    assert type(img.predictor) is type(vid.predictor) is Predictor
    assert type(img.encoder.patch_embed).__name__ == "PatchEmbed"
    assert type(vid.encoder.patch_embed).__name__ == "PatchEmbed3D"


def official_encoder_keys(depth: int) -> list[str]:
    keys = ["patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed"]
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys += [f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"]
    return keys + ["norm.weight", "norm.bias"]


def official_predictor_keys(depth: int, tokens: list[str]) -> list[str]:
    keys = ["predictor_embed.weight", "predictor_embed.bias", *tokens, "predictor_pos_embed"]
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys += [f"predictor_blocks.{i}.{part}.weight", f"predictor_blocks.{i}.{part}.bias"]
    return keys + ["predictor_norm.weight", "predictor_norm.bias",
                   "predictor_proj.weight", "predictor_proj.bias"]


def strip(sd: dict, prefix: str) -> dict:
    return {k.removeprefix(prefix): v for k, v in sd.items()}


@pytest.mark.parametrize("frames,prefix,tokens", [
    (4, "module.backbone.", ["mask_tokens.0", "mask_tokens.1"]),  # V-JEPA layout
    (1, "module.", ["mask_token"]),  # I-JEPA layout
])
def test_official_key_names_load_strictly(frames, prefix, tokens):
    model, _ = tiny_jepa(frames)
    assert sorted(model.encoder.state_dict()) == sorted(official_encoder_keys(2))
    assert sorted(model.predictor.state_dict()) == sorted(official_predictor_keys(2, tokens))
    # a checkpoint written with the official names and wrapper prefixes, random values
    official = {f"{prefix}{k}": torch.randn_like(v) for k, v in model.encoder.state_dict().items()}
    fresh, _ = tiny_jepa(frames)
    fresh.encoder.load_state_dict(strip(official, prefix), strict=True)
    for k, v in strip(official, prefix).items():
        assert torch.equal(fresh.encoder.state_dict()[k], v)
    pred_sd = {f"{prefix}{k}": v for k, v in model.predictor.state_dict().items()}
    fresh.predictor.load_state_dict(strip(pred_sd, prefix), strict=True)
    with pytest.raises(RuntimeError, match="Missing key"):
        fresh.encoder.load_state_dict(official, strict=True)  # prefixes not removed


def test_official_shapes_of_vitl16_video_encoder():
    with torch.device("meta"):
        enc = VisionTransformer(img_size=224, patch_size=16, num_frames=16, tubelet_size=2,
                                embed_dim=1024, depth=24, num_heads=16, uniform_power=True)
        pred = Predictor(img_size=224, patch_size=16, num_frames=16, tubelet_size=2,
                         embed_dim=1024, predictor_embed_dim=384, depth=12, num_heads=16,
                         uniform_power=True, num_mask_tokens=2)
    sd = enc.state_dict()
    assert sd["patch_embed.proj.weight"].shape == (1024, 3, 2, 16, 16)
    assert sd["pos_embed"].shape == (1, 1568, 1024)
    assert pred.state_dict()["predictor_pos_embed"].shape == (1, 1568, 384)
    assert pred.predictor_blocks[0].attn.num_heads == 16


def test_mismatched_mask_groups_raise():
    model, coll = tiny_jepa(1)
    enc, pred = MultiBlock2D((8, 8), min_keep=4)(2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="mask groups"):
        model(torch.randn(2, 3, 64, 64), [enc, enc], [pred])


@pytest.mark.parametrize("frames", [1, 4])
def test_encoder_and_predictor_gradients_match_finite_differences(frames):
    torch.manual_seed(0)
    model, coll = tiny_jepa(frames)
    model = model.double()
    x = torch.randn((2, 3, frames, 64, 64) if frames > 1 else (2, 3, 64, 64), dtype=torch.float64)
    enc, pred = coll.masks(0, 2)
    model(x, enc, pred).loss.backward()
    for p in (model.encoder.blocks[0].mlp.fc1.weight, model.encoder.patch_embed.proj.weight,
              model.predictor.predictor_blocks[1].attn.qkv.weight):
        flat, grad = p.data.view(-1), p.grad.view(-1)
        assert grad.abs().max() > 0
        for i in torch.topk(grad.abs(), 2).indices.tolist():  # the most influential entries
            with torch.no_grad():
                flat[i] += 1e-6
                up = model(x, enc, pred).loss.item()
                flat[i] -= 2e-6
                down = model(x, enc, pred).loss.item()
                flat[i] += 1e-6
            assert abs((up - down) / 2e-6 - grad[i].item()) <= 1e-4 * abs(grad[i].item()) + 1e-9
