"""Position tables against a float64 reference written straight from the formulas."""

import math

import pytest
import torch

from vjepa.models.pos_embed import interpolate_pos_embed, sincos_1d, sincos_2d, sincos_3d


def ref_1d(dim: int, p: float) -> list[float]:
    w = [1.0 / 10000 ** (i / (dim / 2)) for i in range(dim // 2)]
    return [math.sin(p * wi) for wi in w] + [math.cos(p * wi) for wi in w]


def ref_2d(dim: int, gh: int, gw: int, order: str) -> torch.Tensor:
    rows = []
    for h in range(gh):
        for w in range(gw):  # raster, w fastest
            a, b = (h, w) if order == "hw" else (w, h)
            rows.append(ref_1d(dim // 2, a) + ref_1d(dim // 2, b))
    return torch.tensor(rows, dtype=torch.float64)


def ref_3d(dim: int, gt: int, gh: int, gw: int, uniform: bool) -> torch.Tensor:
    if uniform:
        dt = dh = dw = math.ceil(dim / 6) * 2
    else:
        dt, dh, dw = dim // 2, dim // 4, dim // 4
    rows = []
    for t in range(gt):
        for h in range(gh):
            for w in range(gw):
                rows.append((ref_1d(dt, t) + ref_1d(dh, h) + ref_1d(dw, w))[:dim])
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("dim", [8, 64])
def test_1d_matches_reference(dim):
    got = sincos_1d(dim, torch.arange(7))
    want = torch.tensor([ref_1d(dim, p) for p in range(7)], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", ["hw", "wh"])
@pytest.mark.parametrize("grid", [(3, 5), (4, 4)])
def test_2d_matches_reference(order, grid):
    torch.testing.assert_close(sincos_2d(32, *grid, order=order), ref_2d(32, *grid, order),
                               rtol=0, atol=1e-12)


def test_2d_orders_differ_on_non_trivial_grid():
    assert not torch.allclose(sincos_2d(16, 3, 3, "hw"), sincos_2d(16, 3, 3, "wh"))


@pytest.mark.parametrize("uniform", [False, True])
@pytest.mark.parametrize("dim", [48, 64, 1024])
def test_3d_matches_reference(uniform, dim):
    got = sincos_3d(dim, 2, 3, 4, uniform_power=uniform)
    assert got.shape == (24, dim)
    torch.testing.assert_close(got, ref_3d(dim, 2, 3, 4, uniform), rtol=0, atol=1e-12)


def test_odd_width_is_rejected():
    with pytest.raises(ValueError, match="even"):
        sincos_1d(7, torch.arange(3))


def test_interpolation_identity_and_sizes():
    table = sincos_3d(48, 2, 4, 4).float().unsqueeze(0)
    assert interpolate_pos_embed(table, (2, 4, 4), (2, 4, 4)) is table
    out = interpolate_pos_embed(table, (2, 4, 4), (4, 6, 5))
    assert out.shape == (1, 4 * 6 * 5, 48)
    t2 = sincos_2d(32, 4, 4).float().unsqueeze(0)
    assert interpolate_pos_embed(t2, (4, 4), (7, 7)).shape == (1, 49, 32)


def test_interpolation_of_constant_table_is_constant():
    # Trilinear resampling of a table that is constant along t/h/w must stay that constant.
    table = torch.arange(16.0).repeat(2 * 3 * 3, 1).unsqueeze(0)  # [1, 18, 16]
    out = interpolate_pos_embed(table, (2, 3, 3), (4, 6, 6))
    torch.testing.assert_close(out, torch.arange(16.0).repeat(4 * 6 * 6, 1).unsqueeze(0))


def test_interpolation_rejects_wrong_token_count():
    with pytest.raises(ValueError, match="tokens"):
        interpolate_pos_embed(torch.zeros(1, 10, 8), (2, 3, 3), (2, 4, 4))
