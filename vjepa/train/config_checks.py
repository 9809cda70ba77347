"""The checks of a training config that Hydra cannot make (`validate`): impossible values
rejected with the field and the value named. Shared by the eval config's checks (`fail`)."""

from __future__ import annotations

from typing import Any

from vjepa.slurm_config import LAUNCHERS


def fail(key: str, value: Any, why: str) -> None:
    raise ValueError(f"config {key}={value!r}: {why}")


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        fail(key, value, f"must be one of {choices}")


def _check_range(key: str, r: Any, low: float, high: float) -> None:
    """A [min, max] pair with low < min <= max <= high."""
    if len(r) != 2 or not (low < r[0] <= r[1] <= high):
        fail(key, list(r), f"must be [min, max] with {low} < min <= max <= {high}")


def _check_positive(prefix: str, obj: Any, names: tuple[str, ...], strict: bool = True) -> None:
    for name in names:
        v = getattr(obj, name)
        if v is not None and (v <= 0 if strict else v < 0):
            fail(f"{prefix}.{name}", v, "must be positive" if strict else "must be >= 0")


def validate_model(m: Any) -> None:
    _check_positive("model", m, ("crop_size", "patch_size", "num_frames", "tubelet_size",
                                 "pred_depth", "pred_embed_dim", "embed_dim", "depth",
                                 "num_heads", "num_mask_tokens", "loss_exp"))
    if not 0.0 <= m.drop_path_rate < 1.0:
        fail("model.drop_path_rate", m.drop_path_rate, "must be in [0, 1)")


def validate_mask(mask: Any, video: bool, mask_token_layout: str, num_mask_tokens: int) -> None:
    if video:
        if not mask.video:
            fail("mask.video", list(mask.video), "a video model needs at least one mask config")
        if mask_token_layout == "per_config" and num_mask_tokens != len(mask.video):
            fail("model.num_mask_tokens", num_mask_tokens,
                  f"must equal the number of mask configs ({len(mask.video)})")
        return
    if mask_token_layout == "per_config" and num_mask_tokens != 1:
        fail("model.num_mask_tokens", num_mask_tokens, "an image model has one mask group")


def validate_optim(o: Any) -> None:
    _check_positive("optim", o, ("epochs", "ipe", "ipe_scale", "lr", "eps", "accum_steps",
                                 "max_steps", "max_nonfinite", "clip_grad"))
    _check_positive("optim", o, ("warmup", "start_lr", "final_lr", "weight_decay",
                                 "final_weight_decay"), strict=False)
    if len(o.ema) != 2 or not 0.0 <= o.ema[0] <= o.ema[1] <= 1.0:
        fail("optim.ema", list(o.ema), "must be [start, end] with 0 <= start <= end <= 1")
    if len(o.betas) != 2 or not all(0.0 <= b < 1.0 for b in o.betas):
        fail("optim.betas", list(o.betas), "must be two values in [0, 1)")


def validate_data(d: Any) -> None:
    from vjepa.data.reader_base import BACKENDS

    if d.weights is not None and len(d.weights) != len(d.sources):
        fail("data.weights", list(d.weights), f"needs one weight per source ({len(d.sources)})")
    if d.weights is not None and (min(d.weights) < 0 or sum(d.weights) <= 0):
        fail("data.weights", list(d.weights), "must be >= 0 with a positive sum")
    if d.decoder is not None:
        _check_choice("data.decoder", d.decoder, BACKENDS)
    _check_positive("data", d, ("batch_size", "frame_step", "num_clips", "synthetic_num",
                                "synthetic_size", "synthetic_frames", "synthetic_shapes",
                                "synthetic_background", "fps", "duration"))
    if d.fps is not None and d.duration is not None:
        fail("data.duration", d.duration, f"set data.fps={d.fps} or data.duration, not both")
    if d.kind == "image" and (d.fps is not None or d.duration is not None):
        fail("data.fps" if d.fps is not None else "data.duration",
              d.fps if d.fps is not None else d.duration, "is for video data")
    _check_positive("data", d, ("num_workers",), strict=False)
    _check_range("data.random_resize_scale", d.random_resize_scale, 0.0, 1.0)
    _check_range("data.random_resize_aspect_ratio", d.random_resize_aspect_ratio, 0.0,
                 float("inf"))
    if not 0.0 <= d.max_bad_fraction <= 1.0:
        fail("data.max_bad_fraction", d.max_bad_fraction, "must be in [0, 1]")


def validate_logging(lg: Any) -> None:
    _check_positive("logging", lg, ("log_every", "checkpoint_every"))
    _check_positive("logging", lg, ("keep_every", "floor_std_samples", "floor_std_tokens",
                                    "floor_rank"), strict=False)


def validate_probe(p: Any, kind: str) -> None:
    _check_positive("probe", p, ("every",), strict=False)
    _check_positive("probe", p, ("num_train", "num_test", "epochs", "lr", "batch_size", "k"))
    _check_positive("probe", p, ("weight_decay",), strict=False)
    if not p.protocols:
        fail("probe.protocols", list(p.protocols), "name at least one of knn, linear, attentive")
    for name in p.protocols:
        _check_choice("probe.protocols", name, ("knn", "linear", "attentive"))
    _check_choice("probe.label", p.label, ("class", "count"))
    if p.label == "count" and kind != "image":
        fail("probe.label", p.label, "the count label exists for the synthetic images only")
    if (p.train_index is None) != (p.test_index is None):
        fail("probe.test_index", p.test_index, f"give both train_index ({p.train_index}) "
              "and test_index, or neither (a held-out synthetic set)")


def validate(cfg: Any) -> None:
    """Reject impossible values (a TrainConfig or a DictConfig of its schema) that no module
    checks itself. What the model and mask modules check (geometry, mask scales and counts) is
    checked by building them on the meta device: vjepa.train.build.check_buildable."""
    validate_model(cfg.model)
    video = cfg.model.num_frames > 1
    if (cfg.data.kind == "video") != video:
        fail("data.kind", cfg.data.kind, f"does not fit model.num_frames={cfg.model.num_frames}")
    validate_mask(cfg.mask, video, cfg.model.mask_token_layout, cfg.model.num_mask_tokens)
    validate_data(cfg.data)
    validate_optim(cfg.optim)
    validate_logging(cfg.logging)
    validate_probe(cfg.probe, cfg.data.kind)
    _check_positive("dist", cfg.dist, ("timeout_s",))
    _check_choice("launcher", cfg.launcher, ("none", *LAUNCHERS))
    if cfg.seed < 0:
        fail("seed", cfg.seed, "must be >= 0")
