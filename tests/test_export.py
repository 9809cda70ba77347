"""Export round trips: official -> safetensors -> official, equal outputs; CLI; broken exports."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from official_fakes import ijepa_file, vjepa_file

from vjepa.checkpoints.errors import CheckpointError, StateDictMismatchError
from vjepa.export import export_official, export_safetensors, main
from vjepa.pretrained import Pretrained, load_pretrained


def _outputs(encoder: Pretrained, predictor: Pretrained | None = None) -> list[torch.Tensor]:
    arch = encoder.arch
    gen = torch.Generator().manual_seed(0)
    shape = (2, 3, arch.num_frames, *arch.img_size) if arch.num_frames > 1 else (
        2, 3, *arch.img_size)
    x = torch.randn(shape, generator=gen)
    n = encoder.model.num_patches
    perm = torch.randperm(n, generator=gen)
    ctx, tgt = perm[: n // 2].sort().values, perm[n // 2:].sort().values
    ctx, tgt = ctx.expand(2, -1), tgt.expand(2, -1)
    with torch.no_grad():
        outs = [encoder.model(x)]
        if predictor is not None:
            outs.append(predictor.model(encoder.model(x, [ctx]), [ctx], [tgt]))
    return outs


def _assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("make", [vjepa_file, ijepa_file])
def test_round_trip_keeps_outputs(tmp_path: Path, make) -> None:
    src = make(tmp_path / "official.pth.tar")
    enc, pred = load_pretrained(src), load_pretrained(src, "predictor")
    want = _outputs(enc, pred)

    folder = export_safetensors(enc, tmp_path / "export", pred)
    config = json.loads((folder / "config.json").read_text())
    assert config["encoder"] == enc.arch.to_dict() and config["source"]["which"] == "target_encoder"
    enc2, pred2 = load_pretrained(folder), load_pretrained(folder / "model.safetensors",
                                                           "predictor")
    assert enc2.layout == "vjepa-export" and enc2.arch == enc.arch and pred2.arch == pred.arch
    assert enc2.preprocess == enc.preprocess and enc2.epoch == 7
    _assert_same(_outputs(enc2, pred2), want)

    official = "vjepa" if enc.arch.num_frames > 1 else "ijepa"
    path = export_official(enc2, tmp_path / "back.pth.tar", official, pred2)
    enc3, pred3 = load_pretrained(path), load_pretrained(path, "predictor")
    assert enc3.layout == enc.layout and enc3.arch == enc.arch and pred3.arch == pred.arch
    _assert_same(_outputs(enc3, pred3), want)
    raw = torch.load(path, weights_only=True)
    prefix = "module.backbone." if official == "vjepa" else "module."
    assert all(k.startswith(prefix) for k in raw["target_encoder"]) and raw["epoch"] == 7


def test_cli_export_and_overwrite(tmp_path: Path, capsys) -> None:
    src = vjepa_file(tmp_path / "v.pth.tar")
    out = tmp_path / "exp"
    assert main([str(src), str(out), "--which", "encoder"]) == 0
    assert "exported encoder" in capsys.readouterr().out
    assert load_pretrained(out).which == "encoder"
    with pytest.raises(CheckpointError, match="holds the 'encoder'"):
        load_pretrained(out, "target_encoder")
    with pytest.raises(CheckpointError, match="holds no predictor"):
        load_pretrained(out, "predictor")
    with pytest.raises(SystemExit, match="--overwrite"):
        main([str(src), str(out)])
    assert main([str(src), str(out), "--overwrite", "--predictor", "--frame-step", "2"]) == 0
    assert load_pretrained(out).preprocess.frame_step == 2
    assert main([str(src), str(tmp_path / "o.pt"), "--format", "vjepa"]) == 0
    assert load_pretrained(tmp_path / "o.pt").layout == "vjepa"
    assert not [p for p in tmp_path.rglob(".*tmp*")]  # no temporary files left behind
    (tmp_path / "empty.pt").write_bytes(b"")
    assert main([str(tmp_path / "empty.pt"), str(tmp_path / "e")]) == 2
    assert "empty.pt: empty file" in capsys.readouterr().err


def _rewrite_config(folder: Path, edit) -> None:
    """Change the config in config.json and in the weights' metadata alike."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    config = json.loads((folder / "config.json").read_text())
    edit(config)
    text = json.dumps(config)
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    save_file(tensors, str(folder / "model.safetensors"), metadata={"config": text})
    (folder / "config.json").write_text(text)


def test_broken_exports(tmp_path: Path) -> None:
    enc = load_pretrained(vjepa_file(tmp_path / "v.pth.tar"))
    folder = export_safetensors(enc, tmp_path / "exp")
    weights = folder / "model.safetensors"
    with pytest.raises(ValueError, match="fixes the architecture"):
        load_pretrained(folder, num_heads=3)

    config = json.loads((folder / "config.json").read_text())
    config["encoder"]["depth"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="disagrees"):
        load_pretrained(folder)
    (folder / "config.json").unlink()
    assert load_pretrained(folder).arch == enc.arch  # the embedded copy suffices

    export_safetensors(enc, folder)
    _rewrite_config(folder, lambda c: c["encoder"].update(mlp_ratoi=4.0))
    with pytest.raises(CheckpointError, match="mlp_ratoi"):
        load_pretrained(folder)
    def deeper(config: dict) -> None:
        del config["encoder"]["mlp_ratoi"]
        config["encoder"]["depth"] = 3

    _rewrite_config(folder, deeper)
    with pytest.raises(StateDictMismatchError, match="blocks.2.norm1.weight"):
        load_pretrained(folder)  # a config that promises more than the weights hold

    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        load_pretrained(folder)
    assert str(weights) in str(info.value)
    weights.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_pretrained(folder)
    with pytest.raises(ValueError, match="video encoder"):
        export_official(enc, tmp_path / "x.pt", "ijepa")


def test_official_layout_keeps_heads_and_frame_step_in_a_sidecar(tmp_path: Path,
                                                                  capsys) -> None:
    # width 96 is in no registry entry, so its 4 heads are not in the tensors; frame step 2
    src = vjepa_file(tmp_path / "run.pth.tar", width=96, depth=1)
    enc = load_pretrained(src, num_heads=4, frame_step=2)
    assert main([str(src), str(tmp_path / "off.pth.tar"), "--format", "vjepa",
                 "--num-heads", "4", "--frame-step", "2"]) == 0
    assert "num_heads 4 and frame_step 2" in capsys.readouterr().out
    back = load_pretrained(tmp_path / "off.pth.tar")  # no arguments needed
    assert back.arch == enc.arch and back.arch.num_heads == 4
    assert back.preprocess.frame_step == 2
    _assert_same(_outputs(back), _outputs(enc))
    (tmp_path / "off.pth.tar.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a valid sidecar"):
        load_pretrained(tmp_path / "off.pth.tar")


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_exports_respect_the_umask(tmp_path: Path, umask: int) -> None:
    enc = load_pretrained(vjepa_file(tmp_path / "v.pth.tar"))
    old = os.umask(umask)
    try:
        folder = export_safetensors(enc, tmp_path / "exp")
        official = export_official(enc, tmp_path / "off.pth.tar", "vjepa")
    finally:
        os.umask(old)
    for path in (folder / "model.safetensors", folder / "config.json", official,
                 tmp_path / "off.pth.tar.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
