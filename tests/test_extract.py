"""extract_features (windows, batching, layers, images) and the `vjepa extract` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from data_fixtures import make_video, numbered_frames
from official_fakes import vjepa_file
from PIL import Image
from safetensors import safe_open

from vjepa.data.decoders import DecodeError, open_video
from vjepa.data.transforms import EvalClipTransform
from vjepa.eval.extract import (
    ExtractConfig,
    main,
    read_features,
    run_extract,
    run_extract_job,
)
from vjepa.features import extract_features, video_windows
from vjepa.models.vit import VisionTransformer
from vjepa.pretrained import load_pretrained


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("v") / "clip.mp4", num_frames=30, fps=25)


def _encoder(frames: int = 4) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(img_size=32, patch_size=8, num_frames=frames, tubelet_size=2,
                             embed_dim=48, depth=2, num_heads=3).eval()


@pytest.mark.parametrize(("n", "t", "step", "stride"),
                         [(30, 4, 2, None), (30, 4, 2, 3), (100, 16, 4, 24), (5, 4, 2, None),
                          (8, 4, 2, 8), (1, 3, 1, None)])
def test_windows_cover_every_frame(n: int, t: int, step: int, stride: int | None) -> None:
    windows = video_windows(n, t, step, stride)
    clip_len = t * step
    assert windows.shape[1] == t and int(windows.min()) >= 0 and int(windows.max()) < n
    starts = windows[:, 0].tolist()
    assert starts[0] == 0 and starts == sorted(starts)
    covered = set()
    for s in starts:
        covered.update(range(s, min(s + clip_len, n)))
    assert covered == set(range(n))
    regular = starts if n <= clip_len or (n - clip_len) % (stride or clip_len) == 0 else starts[:-1]
    assert all(s % (stride or clip_len) == 0 for s in regular)
    if n > clip_len:
        assert starts[-1] + clip_len <= n and (windows[:, -1] - windows[:, 0]).eq(
            windows[0, -1] - windows[0, 0]).all()


def test_video_features_match_per_window_reference(video: Path) -> None:
    enc = _encoder()
    out = extract_features(enc, video, frame_step=2, stride=3, batch_size=3)
    windows = out.frame_indices
    assert out.fps == 25.0 and out.num_source_frames == 30
    torch.testing.assert_close(out.start_s, windows[:, 0].double() / 25)
    torch.testing.assert_close(out.end_s, (windows[:, -1].double() + 1) / 25)
    transform = EvalClipTransform(crop_size=32)
    with open_video(video) as reader:
        clips = [transform(reader.get_batch(w.tolist())) for w in windows]
    with torch.no_grad():
        want = torch.cat([enc(c) for c in clips])
    assert out.features.shape == (len(windows), enc.num_patches, 48)
    torch.testing.assert_close(out.features, want, atol=1e-5, rtol=1e-5)
    pooled = extract_features(enc, video, frame_step=2, stride=3, batch_size=2, pool="mean")
    torch.testing.assert_close(pooled.features, want.mean(1), atol=1e-5, rtol=1e-5)


def test_intermediate_layers(video: Path) -> None:
    enc = _encoder()
    final = extract_features(enc, video, frame_step=2).features
    out = extract_features(enc, video, frame_step=2, layers=[0, -1])
    assert out.features.shape == (final.shape[0], 2, *final.shape[1:]) and out.layers == (0, -1)
    torch.testing.assert_close(out.features[:, 1], final)
    assert not torch.allclose(out.features[:, 0], final)
    again = extract_features(enc, video, frame_step=2)  # asking for layers changed nothing
    torch.testing.assert_close(again.features, final)
    with pytest.raises(ValueError, match=r"layers \[2\] out of range"):
        extract_features(enc, video, layers=[2])


def test_images_all_input_kinds_agree(tmp_path: Path) -> None:
    frame = numbered_frames(1, 40, 56)[0]
    Image.fromarray(frame).save(tmp_path / "a.png")
    tensor = torch.from_numpy(frame).permute(2, 0, 1)
    enc = _encoder(frames=4)
    by_path = extract_features(enc, tmp_path / "a.png", pool="mean").features
    by_pil = extract_features(enc, Image.fromarray(frame), pool="mean").features
    batch = extract_features(enc, torch.stack([tensor, tensor.flip(2)]), pool="mean").features
    torch.testing.assert_close(by_path, by_pil)
    torch.testing.assert_close(batch[:1], by_path)
    assert batch.shape == (2, 48) and not torch.allclose(batch[0], batch[1])
    clip = EvalClipTransform(crop_size=32)(frame[None]).expand(-1, -1, 4, -1, -1)
    with torch.no_grad():  # a video encoder sees the image repeated over its frames
        torch.testing.assert_close(by_path, enc(clip).mean(1), atol=1e-5, rtol=1e-5)
    image_enc = _encoder(frames=1)
    assert extract_features(image_enc, [tensor, tmp_path / "a.png"]).features.shape == (2, 16, 48)


def test_bad_inputs(tmp_path: Path, video: Path) -> None:
    enc = _encoder()
    with pytest.raises(ValueError, match="pool"):
        extract_features(enc, video, pool="max")
    with pytest.raises(ValueError, match="uint8"):
        extract_features(enc, torch.rand(3, 32, 32))
    with pytest.raises(DecodeError, match="missing"):
        extract_features(enc, tmp_path / "nope.mp4")
    with pytest.raises(ValueError, match="stride"):
        extract_features(enc, video, stride=0)
    with pytest.raises(ValueError, match="timeout_s must be positive or None, got -1"):
        extract_features(enc, video, timeout_s=-1)
    for bound in ("0", "nan", "inf", "soon"):
        with pytest.raises(SystemExit):
            main(["c.pth", str(video), str(tmp_path / "o"), "--timeout-s", bound])


def test_cli_extract_resumes_and_reports_bad_files(tmp_path: Path, video: Path) -> None:
    ckpt = vjepa_file(tmp_path / "vitl16.pth.tar", frames=4, img=32, patch=8)
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    (root / "a.mp4").write_bytes(video.read_bytes())
    make_video(root / "sub" / "b.mp4", num_frames=12)
    (root / "broken.mp4").write_bytes(b"not a video")
    Image.fromarray(numbered_frames(1)[0]).save(root / "sub" / "still.png")
    out = tmp_path / "feats"
    args = [str(ckpt), str(root), str(out), "--pool", "mean", "--stride", "4", "--no-progress",
            "--device", "cpu"]  # compared below with fp32 features computed on the CPU
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"done": 3, "skipped": 0, "bad": 1, "replaced": 0}
    bad = [e for e in manifest["files"] if e["status"] == "bad"]
    assert bad[0]["input"].endswith("broken.mp4") and bad[0]["reason"] == "not_video"
    with safe_open(str(out / "a.mp4.safetensors"), "pt") as f:
        meta = f.metadata()
        feats, start = f.get_tensor("features"), f.get_tensor("start_s")
    times = json.loads(meta["window_times_s"])
    assert len(times) == feats.shape[0] == start.shape[0] and times[0][0] == 0.0
    assert json.loads(meta["config"])["extract"]["stride"] == 4
    pre = load_pretrained(ckpt)
    want = extract_features(pre, video, pool="mean", stride=4).features
    torch.testing.assert_close(feats, want)
    assert (out / "sub" / "b.mp4.safetensors").is_file()
    with safe_open(str(out / "sub" / "still.png.safetensors"), "pt") as f:
        assert f.get_tensor("features").shape == (1, 192) and "start_s" not in f.keys()
        assert json.loads(f.metadata()["window_times_s"]) is None
    stamp = (out / "a.mp4.safetensors").stat().st_mtime_ns
    again = run_extract(ExtractConfig(str(ckpt), str(root), str(out), pool="mean", stride=4,
                                      progress=False))
    assert again["counts"] == {"done": 0, "skipped": 3, "bad": 1, "replaced": 0}
    assert (out / "a.mp4.safetensors").stat().st_mtime_ns == stamp
    assert not list(out.rglob(".*tmp*"))


def test_cli_shards_partition_an_index(tmp_path: Path, video: Path) -> None:
    ckpt = vjepa_file(tmp_path / "v.pth.tar", frames=4, img=32, patch=8)
    files = []
    for i in range(3):
        files.append(tmp_path / "in" / f"v{i}.mp4")
        files[-1].parent.mkdir(exist_ok=True)
        files[-1].write_bytes(video.read_bytes())
    index = tmp_path / "index.csv"
    index.write_text("".join(f"{f} {i}\n" for i, f in enumerate(files)))
    done = []
    for rank in range(2):
        cfg = ExtractConfig(str(ckpt), str(index), str(tmp_path / "out"), rank=rank,
                            world_size=2, pool="mean", progress=False, frame_step=8)
        done += [(e["input"], e["label"]) for e in run_extract(cfg)["files"]
                 if e["status"] == "done"]
    assert sorted(done) == [(str(f), i) for i, f in enumerate(files)]
    feats, info = read_features(tmp_path / "out" / "v2.mp4.safetensors")
    assert info["label"] == 2 and info["source"] == str(files[2])
    assert info["config"]["extract"]["frame_step"] == 8 and feats.pool == "mean"
    assert feats.frame_indices.shape == (feats.features.shape[0], 4)
    assert feats.fps == 25.0 and feats.num_source_frames == 30
    index.write_text(f"{files[0]} 0\n{files[0]} 1\n")
    with pytest.raises(ValueError, match="labels 0 and 1"):
        run_extract(ExtractConfig(str(ckpt), str(index), str(tmp_path / "o")))
    assert (tmp_path / "out" / "manifest-rank1-of-2.json").is_file()
    with pytest.raises(ValueError, match="rank"):
        run_extract(ExtractConfig(str(ckpt), str(index), str(tmp_path / "o"), rank=2,
                                  world_size=2))


def test_launcher_entry_takes_its_shard_from_the_environment(tmp_path: Path, video: Path,
                                                            monkeypatch) -> None:
    ckpt = vjepa_file(tmp_path / "v.pth.tar", frames=4, img=32, patch=8)
    root = tmp_path / "in"
    root.mkdir()
    for i in range(3):
        (root / f"v{i}.mp4").write_bytes(video.read_bytes())
    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "0",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    manifest = run_extract_job({"checkpoint": str(ckpt), "inputs": str(root),
                                "out_dir": str(tmp_path / "out"), "device": "cpu",
                                "pool": "mean", "progress": False})
    assert (manifest["rank"], manifest["world_size"]) == (1, 2)
    assert [Path(e["input"]).name for e in manifest["files"]] == ["v1.mp4"]
    assert (tmp_path / "out" / "manifest-rank1-of-2.json").is_file()


def test_cli_reports_a_broken_checkpoint(tmp_path: Path, video: Path, capsys) -> None:
    ckpt = tmp_path / "cut.pth.tar"
    data = vjepa_file(tmp_path / "v.pth.tar").read_bytes()
    ckpt.write_bytes(data[: len(data) // 3])
    assert main([str(ckpt), str(video.parent), str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vjepa extract: ") and str(ckpt) in err
