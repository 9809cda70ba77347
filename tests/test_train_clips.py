"""`data.num_clips > 1` trains on every clip: clips folded into the batch, masks repeated."""

from __future__ import annotations

import torch
from train_helpers import run_here, tiny_overrides

import vjepa.train.step as step_module
from vjepa.smoke import tiny_jepa
from vjepa.train.step import optimizer_step, to_device


def test_clips_fold_clip_major_and_share_their_sample_masks():
    batch, clips = 3, 2
    video = torch.randn(batch, clips, 3, 4, 32, 32)
    _, coll = tiny_jepa(4, img_size=32, patch=8)  # a 2x4x4 grid: the V-JEPA masks fit
    enc, pred = coll.masks(0, batch)
    x, enc2, pred2 = to_device({"video": video}, enc, pred, torch.device("cpu"))
    assert x.shape == (clips * batch, 3, 4, 32, 32)
    for c in range(clips):
        for b in range(batch):
            assert torch.equal(x[c * batch + b], video[b, c])
    for before, after in ((enc, enc2), (pred, pred2)):
        for grp, grp2 in zip(before, after, strict=True):
            for m, m2 in zip(grp, grp2, strict=True):
                assert torch.equal(m2, torch.cat([m] * clips))


def test_one_clip_is_the_batch_itself():
    video = torch.randn(2, 1, 3, 4, 32, 32)
    _, coll = tiny_jepa(4, img_size=32, patch=8)  # a 2x4x4 grid: the V-JEPA masks fit
    enc, pred = coll.masks(0, 2)
    x, enc2, _ = to_device({"video": video}, enc, pred, torch.device("cpu"))
    assert torch.equal(x, video[:, 0]) and torch.equal(enc2[0][0], enc[0][0])


def test_every_clip_contributes_to_the_loss():
    """The loss changes when only the second clip of each video changes."""
    torch.manual_seed(0)
    model, coll = tiny_jepa(4)
    video = torch.randn(2, 2, 3, 4, 64, 64)
    enc, pred = coll.masks(0, 2)
    losses = []
    for v in (video, torch.cat([video[:, :1], torch.randn(2, 1, 3, 4, 64, 64)], 1)):
        x, e, p = to_device({"video": v}, enc, pred, torch.device("cpu"))
        with torch.no_grad():
            losses.append(model(x, e, p).loss.item())
    assert losses[0] != losses[1]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = optimizer_step(model, model, [({"video": video}, enc, pred)], opt, None,
                            torch.device("cpu"), "float32", None, 0.99)
    assert result.finite and result.targets.shape[0] == 4


def test_training_with_two_clips_sees_twice_the_clips(tmp_path, monkeypatch):
    seen: list[tuple[int, int]] = []

    def spy(batch, masks_enc, masks_pred, device):
        x, enc, pred = to_device(batch, masks_enc, masks_pred, device)
        seen.append((batch["video"].shape[0], x.shape[0]))
        assert torch.equal(enc[0][0][:3], enc[0][0][3:])  # the same masks for both clips
        return x, enc, pred

    monkeypatch.setattr(step_module, "to_device", spy)
    run_here(tiny_overrides(tmp_path / "run", tmp_path / "cache", steps=2, ipe=2)
             + ["data.num_clips=2"])
    assert seen == [(3, 6), (3, 6)]
