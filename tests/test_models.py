"""Encoder and predictor: shapes, official init, registry, masked forward against references."""

import math

import pytest
import torch

from vjepa.masks.apply import apply_masks
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VIT_SIZES, VisionTransformer, build_vit, vit_size

VIDEO = dict(img_size=32, patch_size=8, num_frames=4, tubelet_size=2)
IMAGE = dict(img_size=32, patch_size=8, num_frames=1)


def tiny(geo, **kw):
    return VisionTransformer(**geo, embed_dim=48, depth=2, num_heads=4, **kw)


@pytest.mark.parametrize(
    "geo,shape,n", [(IMAGE, (2, 3, 32, 32), 16), (VIDEO, (2, 3, 4, 32, 32), 32)]
)
def test_encoder_shapes(geo, shape, n):
    enc = tiny(geo)
    assert enc.num_patches == n
    assert enc(torch.randn(shape)).shape == (2, n, 48)
    m1, m2 = torch.tensor([[0, 3, 5], [1, 2, 9]]), torch.tensor([[4, 6, 7], [0, 8, 2]])
    assert enc(torch.randn(shape), [m1, m2]).shape == (4, 3, 48)


def test_image_encoder_accepts_one_frame_clip_and_rejects_more():
    enc = tiny(IMAGE).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(enc(x.unsqueeze(2)), enc(x))
    with pytest.raises(ValueError, match="2 frames"):
        enc(torch.randn(2, 3, 2, 32, 32))


def test_video_encoder_rejects_images_and_bad_geometry():
    with pytest.raises(ValueError, match="5-D"):
        tiny(VIDEO)(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="divisible by patch"):
        VisionTransformer(img_size=30, patch_size=8, embed_dim=48, depth=1, num_heads=4)
    with pytest.raises(ValueError, match="tubelet"):
        VisionTransformer(img_size=32, patch_size=8, num_frames=3, tubelet_size=2,
                          embed_dim=48, depth=1, num_heads=4)


def test_masked_forward_equals_slow_reference():
    enc = tiny(VIDEO).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    masks = [torch.tensor([[0, 5, 9, 31], [2, 3, 4, 30]])]
    tokens = enc.patch_embed(x) + enc.pos_embed  # [B, N, D]
    rows = []
    for b in range(2):  # gather sample by sample, then the blocks and the norm
        h = tokens[b, masks[0][b]].unsqueeze(0)
        for blk in enc.blocks:
            h = blk(h)
        rows.append(enc.norm(h))
    torch.testing.assert_close(enc(x, masks), torch.cat(rows), rtol=1e-5, atol=1e-5)


def test_forward_intermediates_equal_the_blocks_run_by_hand():
    """forward_intermediates(x, indices) = the final norm of each block's output, computed
    block by block here, in the order asked (repeats and negative indices included); the final
    layer equals forward; an int n = the last n blocks; bad indices name the depth."""
    enc = VisionTransformer(img_size=32, patch_size=8, num_frames=4, tubelet_size=2,
                            embed_dim=48, depth=3, num_heads=4).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    masks = [torch.tensor([[0, 5, 9, 31], [2, 3, 4, 30]])]
    with torch.no_grad():
        h = apply_masks(enc.patch_embed(x) + enc.pos_embed, masks)
        by_hand = []
        for blk in enc.blocks:
            h = blk(h)
            by_hand.append(enc.norm(h))
        got = enc.forward_intermediates(x, [2, 0, -3, 1], masks=masks)
        assert len(got) == 4
        for out, i in zip(got, [2, 0, 0, 1], strict=True):
            torch.testing.assert_close(out, by_hand[i], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(enc.forward_intermediates(x, [-1])[0], enc(x))
        last_two = enc.forward_intermediates(x, 2, masks=masks)
        torch.testing.assert_close(torch.stack(last_two), torch.stack(by_hand[1:]))
    assert not hasattr(enc, "out_layers")  # no mutable switch: the output is the call's choice
    with pytest.raises(ValueError, match=r"layers \[3\] out of range .* depth 3"):
        enc.forward_intermediates(x, [0, 3])
    with pytest.raises(ValueError, match="1 <= n <= 3"):
        enc.forward_intermediates(x, 0)


def test_other_resolution_and_frames_interpolate():
    enc = tiny(VIDEO)
    assert enc(torch.randn(1, 3, 8, 48, 40)).shape == (1, 4 * 6 * 5, 48)
    img = tiny(IMAGE)
    assert img(torch.randn(1, 3, 48, 48)).shape == (1, 36, 48)


def test_official_init():
    torch.manual_seed(0)
    enc = VisionTransformer(img_size=32, patch_size=8, embed_dim=384, depth=3, num_heads=6)
    for k, blk in enumerate(enc.blocks, start=1):
        for w in (blk.attn.proj.weight, blk.mlp.fc2.weight):
            assert abs(w.std().item() / (0.02 / math.sqrt(2 * k)) - 1) < 0.03
        assert abs(blk.attn.qkv.weight.std().item() / 0.02 - 1) < 0.03
        assert torch.all(blk.attn.qkv.bias == 0) and torch.all(blk.mlp.fc1.bias == 0)
        assert blk.norm1.eps == 1e-6 and torch.all(blk.norm1.weight == 1)
    assert not enc.pos_embed.requires_grad
    assert abs(enc.patch_embed.proj.weight.std().item() / 0.02 - 1) < 0.05


def test_registry_sizes_and_mlp_widths():
    expected = {"tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12),
                "large": (1024, 24, 16), "huge": (1280, 32, 16), "giant": (1408, 40, 16),
                "gigantic": (1664, 48, 16)}
    assert {k: (v.embed_dim, v.depth, v.num_heads) for k, v in VIT_SIZES.items()} == expected
    with torch.device("meta"):
        giant = build_vit("giant", img_size=224, patch_size=14)
        gigantic = build_vit("gigantic", img_size=224, patch_size=14)
    assert giant.blocks[0].mlp.fc1.out_features == 6144
    assert gigantic.blocks[0].mlp.fc1.out_features == 8192
    assert len(gigantic.blocks) == 48 and giant.pos_embed.is_meta
    with pytest.raises(ValueError, match="unknown ViT size 'larg'"):
        vit_size("larg")


def slow_predict(pred, ctx, m_ctx, m_tgt, token):
    """Per sample, per target mask: [embed(ctx)+pos, token+pos] -> blocks -> last Nt tokens."""
    out = []
    for mt in m_tgt:
        for b in range(ctx.shape[0]):
            pos = pred.predictor_pos_embed[0]
            seq = torch.cat([pred.predictor_embed(ctx[b]) + pos[m_ctx[b]],
                             token[0] + pos[mt[b]]]).unsqueeze(0)
            for blk in pred.predictor_blocks:
                seq = blk(seq)
            out.append(pred.predictor_proj(pred.predictor_norm(seq))[:, -mt.shape[1]:])
    return torch.cat(out)


@pytest.mark.parametrize("layout", ["per_config", "single"])
def test_predictor_returns_target_tokens_like_reference(layout):
    geo = VIDEO if layout == "per_config" else IMAGE
    pred = Predictor(**geo, embed_dim=48, predictor_embed_dim=24, depth=2, num_heads=4,
                     mask_token_layout=layout, zero_init_mask_tokens=False).eval()
    m_ctx = torch.tensor([[0, 1, 2, 7, 8], [3, 4, 5, 6, 15]])
    m_tgt = [torch.tensor([[9, 10, 11], [0, 1, 2]]), torch.tensor([[12, 13, 14], [7, 8, 9]])]
    ctx = torch.randn(2, 5, 48)
    got = pred(ctx, [m_ctx], m_tgt, mask_index=1)
    assert got.shape == (4, 3, 48)
    token = pred.mask_tokens[1] if layout == "per_config" else pred.mask_token
    torch.testing.assert_close(got, slow_predict(pred, ctx, m_ctx, m_tgt, token),
                               rtol=1e-5, atol=1e-5)


def test_predictor_mask_token_choice_matters():
    pred = Predictor(**VIDEO, embed_dim=48, predictor_embed_dim=24, depth=1, num_heads=4,
                     num_mask_tokens=2, zero_init_mask_tokens=False).eval()
    ctx, mc, mt = torch.randn(1, 4, 48), torch.tensor([[0, 1, 2, 3]]), [torch.tensor([[5, 6]])]
    assert not torch.allclose(pred(ctx, [mc], mt, 0), pred(ctx, [mc], mt, 1))
    torch.testing.assert_close(pred(ctx, [mc], mt, 0), pred(ctx, [mc], mt, 2))  # modulo


def test_zero_init_mask_tokens():
    pred = Predictor(**VIDEO, embed_dim=48, predictor_embed_dim=24, depth=1, num_heads=4)
    assert all(torch.all(t == 0) for t in pred.mask_tokens)


def test_apply_masks_is_mask_major_gather():
    x = torch.arange(2 * 5 * 1.0).reshape(2, 5, 1)
    out = apply_masks(x, [torch.tensor([[0, 4], [1, 2]]), torch.tensor([[3, 3], [0, 0]])])
    assert out[..., 0].tolist() == [[0, 4], [6, 7], [3, 3], [5, 5]]


def official_block(blk, x):
    """The official JEPA block written out: explicit softmax attention, erf GELU MLP, pre-norm."""
    b, n, c = x.shape
    heads = blk.attn.num_heads
    h = torch.nn.functional.layer_norm(x, (c,), blk.norm1.weight, blk.norm1.bias, 1e-6)
    qkv = (h @ blk.attn.qkv.weight.T + blk.attn.qkv.bias).reshape(b, n, 3, heads, c // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    attn = ((q @ k.transpose(-2, -1)) * (c // heads) ** -0.5).softmax(-1)
    y = (attn @ v).transpose(1, 2).reshape(b, n, c)
    x = x + (y @ blk.attn.proj.weight.T + blk.attn.proj.bias)
    h = torch.nn.functional.layer_norm(x, (c,), blk.norm2.weight, blk.norm2.bias, 1e-6)
    h = torch.nn.functional.gelu(h @ blk.mlp.fc1.weight.T + blk.mlp.fc1.bias)
    return x + (h @ blk.mlp.fc2.weight.T + blk.mlp.fc2.bias)


def test_blocks_equal_the_official_block_formulas():
    enc = tiny(VIDEO).double().eval()
    x = torch.randn(2, 7, 48, dtype=torch.float64)
    for blk in enc.blocks:
        torch.testing.assert_close(blk(x), official_block(blk, x), rtol=1e-10, atol=1e-10)


def test_bad_masks_raise_clear_errors():
    enc = tiny(VIDEO)
    x = torch.randn(2, 3, 4, 32, 32)
    with pytest.raises(ValueError, match=r"in \[0, 32\), got \[0, 32\]"):
        enc(x, [torch.tensor([[0, 32], [1, 2]])])
    with pytest.raises(ValueError, match="int64/int32"):
        enc(x, [torch.tensor([[0.0, 1.0], [1.0, 2.0]])])
    with pytest.raises(ValueError, match=r"\[B=2, K\]"):
        enc(x, [torch.tensor([0, 1])])


def test_predictor_accepts_single_mask_tensors():
    pred = Predictor(**VIDEO, embed_dim=48, predictor_embed_dim=24, depth=1, num_heads=4).eval()
    ctx = torch.randn(2, 4, 48)
    mc, mt = torch.tensor([[0, 1, 2, 3]] * 2), torch.tensor([[5, 6]] * 2)
    torch.testing.assert_close(pred(ctx, mc, mt), pred(ctx, [mc], [mt]))
