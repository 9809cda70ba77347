"""Tiny encoder files and synthetic sets for the `vjepa eval` tests."""

from __future__ import annotations

from pathlib import Path

from official_fakes import encoder_state, predictor_state, pretrain_file

from vjepa.data.synthetic import make_synthetic_videos


def tiny_video_encoder(path: Path) -> Path:
    """An official-layout V-JEPA file: width 32 (2 heads), 16 px, 4 frames, tubelet 2."""
    enc = encoder_state("module.", width=32, depth=1, patch=8, img=16, frames=4, tubelet=2)
    pred = predictor_state("module.", width=32, pred_width=16, depth=1, grid=(2, 2, 2))
    return pretrain_file(path, "module.", enc, pred)


def tiny_video_sets(root: Path, broken: Path | None = None) -> tuple[Path, Path]:
    """(train index: 16 videos, test index: 8 videos + `broken` if given), 4 classes."""
    train = make_synthetic_videos(root / "train", 16, num_classes=4, num_frames=16, size=16)
    test = make_synthetic_videos(root / "test", 8, num_classes=4, num_frames=16, size=16, seed=1)
    if broken is not None:
        out = root / "test_with_broken.csv"
        out.write_text(test.read_text() + f"{broken} 2\n")
        test = out
    return train, test


def tiny_overrides(ckpt: Path, train: Path, test: Path, run_dir: Path) -> list[str]:
    return [f"checkpoint={ckpt}", "encoder_heads=2", f"run_dir={run_dir}",
            f"data.train={train}", f"data.val={test}", "data.frames_per_clip=4",
            "data.frame_step=2", "data.num_segments=2", "data.num_views=3",
            "data.resolution=16", "data.batch_size=4", "data.num_workers=0", "progress=false",
            "optim.epochs=2", "optim.lrs=[1e-3,3e-3]", "optim.wds=[0.01]", "optim.holdout=0.25"]
