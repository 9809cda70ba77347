"""`extract_features`: frozen encoder features of a whole video (sliding windows) or of images.

    pre = load_pretrained("vitl16.pth.tar")
    out = extract_features(pre, "match.mp4", stride=32, pool="mean")
    out.features        # [windows, D]   (pool="none": [windows, tokens, D])
    out.start_s, out.end_s

A video is cut into windows of `frames_per_clip` frames taken every `frame_step` frames (the
window spans `frames_per_clip * frame_step` source frames, indices spread as the official
evaluation sampler does). Windows start every `stride` source frames from frame 0, and one more
window is aligned to the end when the last frames would otherwise be left out, so every frame
is covered. A video shorter than one window gives one window whose last frame is repeated
(visible in `frame_indices`). Frames are decoded window batch by window batch, so long videos
never sit in memory whole. Preprocessing is the official evaluation one: short side resized to
`resolution * 256 / 224`, centre crop, ImageNet normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from vjepa.data.datasets import read_image
from vjepa.data.decoders import (
    DEFAULT_BACKEND,
    BoundedCall,
    VideoReader,
    check_timeout,
    open_video,
    run_bounded,
)
from vjepa.data.index import IMAGE_EXTENSIONS
from vjepa.data.sampling import window_indices
from vjepa.data.transforms import EvalClipTransform
from vjepa.models.vit import VisionTransformer
from vjepa.pretrained import Preprocessing, Pretrained, preprocessing_for

Pool = Literal["none", "mean"]
ImageLike = str | Path | Image.Image | torch.Tensor


@dataclass
class Features:
    """Extracted features.

    Attributes:
        features: float32 [W, N, D] token features (pool "none") or [W, D] (pool "mean"); with
            `layers`, a layer axis after the first: [W, L, N, D] / [W, L, D]. W = windows of a
            video, or images.
        start_s, end_s: float64 [W] window start/end in seconds (videos only): first frame
            index / fps and (last frame index + 1) / fps, with the container's average fps.
        frame_indices: int64 [W, frames_per_clip] source frames of each window (videos only).
        fps, num_source_frames: the video's frame rate and length (videos only).
        packets_not_output: the video's packets whose frames a sequential decode does not
            output (`VideoReader.packets_not_output`; > 0: a cut inside a GOP, or damage).
    """

    features: torch.Tensor
    start_s: torch.Tensor | None = None
    end_s: torch.Tensor | None = None
    frame_indices: torch.Tensor | None = None
    fps: float | None = None
    num_source_frames: int | None = None
    layers: tuple[int, ...] | None = None
    pool: str = "none"
    packets_not_output: int | None = None


def window_starts(num_frames: int, clip_len: int, stride: int) -> list[int]:
    """Starts of the windows of `clip_len` frames every `stride` frames covering the video."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1 frame, got {stride}")
    if num_frames <= clip_len:
        return [0]
    starts = list(range(0, num_frames - clip_len + 1, stride))
    if starts[-1] + clip_len < num_frames:
        starts.append(num_frames - clip_len)
    return starts


def video_windows(num_frames: int, frames_per_clip: int, frame_step: int,
                  stride: int | None) -> torch.Tensor:
    """Frame indices [W, frames_per_clip] of all windows of a video (see the module doc)."""
    if num_frames < 1 or frames_per_clip < 1 or frame_step < 1:
        raise ValueError(f"num_frames, frames_per_clip, frame_step must be >= 1, got "
                         f"{num_frames}, {frames_per_clip}, {frame_step}")
    clip_len = frames_per_clip * frame_step
    starts = window_starts(num_frames, clip_len, clip_len if stride is None else stride)
    windows = torch.stack([window_indices(s, frames_per_clip, clip_len) for s in starts])
    return windows.clamp(max=num_frames - 1)


def _resolve(encoder: VisionTransformer | Pretrained, preprocess: Preprocessing | None
             ) -> tuple[VisionTransformer, Preprocessing]:
    if isinstance(encoder, Pretrained):
        model, preprocess = encoder.model, preprocess or encoder.preprocess
    else:
        model = encoder
    if not isinstance(model, VisionTransformer):
        raise ValueError(f"extract_features needs a VisionTransformer encoder, got "
                         f"{type(model).__name__}")
    if preprocess is None:
        t = model.tokens
        preprocess = preprocessing_for(t.img_size, t.num_frames)
    height, width = preprocess.resolution
    if height != width:
        raise ValueError(f"extraction uses square centre crops; resolution is {height}x{width}")
    return model, preprocess


def encode_layers(model: VisionTransformer, clips: torch.Tensor,
                  layers: Sequence[int] | None) -> torch.Tensor:
    """The encoder's final output [B, N, D], or for `layers` their normed outputs stacked in
    the order given [B, L, N, D] (`VisionTransformer.forward_intermediates`)."""
    if layers is None:
        return model(clips)
    return torch.stack(model.forward_intermediates(clips, list(layers)), dim=1)


def _encode(model: VisionTransformer, clips: torch.Tensor, layers: tuple[int, ...] | None,
            pool: Pool, amp: bool) -> torch.Tensor:
    """[B, C, T, H, W] -> features on CPU, float32 (see `Features.features`)."""
    device = next(model.parameters()).device
    clips = clips.to(device, non_blocking=True)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda"
                else nullcontext())
    with torch.no_grad(), autocast:
        out = encode_layers(model, clips, layers)
    if pool == "mean":
        out = out.mean(dim=-2)
    return out.float().cpu()


def _check_options(pool: str, batch_size: int, timeout_s: float | None) -> None:
    check_timeout(timeout_s)
    if pool not in ("none", "mean"):
        raise ValueError(f"pool must be 'none' or 'mean', got {pool!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def _window_clips(reader: VideoReader, transform: EvalClipTransform, batch: torch.Tensor
                  ) -> torch.Tensor:
    """Decode the frames of a batch of windows [B, T] once each: [B, C, T, crop, crop]."""
    wanted = torch.unique(batch)  # sorted
    clip = transform(reader.get_batch(wanted.tolist()))[0]  # [C, U, crop, crop]
    where = torch.searchsorted(wanted, batch)  # [B, T] positions in `wanted`
    return clip[:, where].permute(1, 0, 2, 3, 4)


def _video(model: VisionTransformer, prep: Preprocessing, path: Path, opts: dict[str, Any]
           ) -> Features:
    """Windows of a video, decoded one batch ahead (in a thread) of the encoder on a GPU.

    Opening the file and each batch's decode wait at most `opts["timeout_s"]` (DecodeError
    "timeout" past it); a reader still held by a stuck decode is left to it, never closed
    under it."""
    transform = EvalClipTransform(crop_size=prep.resolution[0], mean=prep.mean, std=prep.std)
    frames_per_clip = opts["frames_per_clip"] or prep.num_frames
    step = opts["frame_step"] or prep.frame_step
    ahead = next(model.parameters()).device.type == "cuda"  # on a CPU both compete for cores
    timeout_s = opts["timeout_s"]
    reader = BoundedCall(lambda: open_video(path, backend=opts["backend"]), path).result(
        timeout_s)
    pending: BoundedCall[torch.Tensor] | None = None  # the one decode that may use `reader`

    def decode(batch: torch.Tensor) -> BoundedCall[torch.Tensor]:
        return BoundedCall(lambda: _window_clips(reader, transform, batch), path)

    try:
        fps, total, lost = reader.fps, len(reader), reader.packets_not_output
        windows = video_windows(total, frames_per_clip, step, opts["stride"])
        batches = windows.split(opts["batch_size"])
        feats, pending = [], decode(batches[0])
        for i in range(len(batches)):
            clips = pending.result(timeout_s)
            if i + 1 < len(batches):
                pending = decode(batches[i + 1])
                if not ahead:
                    pending.result(timeout_s)
            feats.append(_encode(model, clips, opts["layers"], opts["pool"], opts["amp"]))
    finally:
        if pending is None or pending.wait(timeout_s):  # never closed under a stuck decode
            reader.close()
    start_s = windows[:, 0].double() / fps
    end_s = (windows[:, -1].double() + 1) / fps  # end of the last frame's display interval
    return Features(torch.cat(feats), start_s.contiguous(), end_s.contiguous(), windows, fps,
                    total, opts["layers"], opts["pool"], lost)


def _image_frames(image: ImageLike, timeout_s: float | None) -> np.ndarray | torch.Tensor:
    """One image as uint8 [1, H, W, 3]; a file is read within `timeout_s`."""
    if isinstance(image, (str, Path)):
        return run_bounded(lambda: read_image(image), timeout_s, image)
    if isinstance(image, Image.Image):
        return np.array(image.convert("RGB"))[None]
    if isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"image tensors must be uint8 [3, H, W] (0-255), got {image.dtype} "
                             f"{list(image.shape)}")
        return image.permute(1, 2, 0)[None]
    raise ValueError(f"cannot read an image from a {type(image).__name__}")


def _images(model: VisionTransformer, prep: Preprocessing, images: Sequence[ImageLike],
            opts: dict[str, Any]) -> Features:
    transform = EvalClipTransform(crop_size=prep.resolution[0], mean=prep.mean, std=prep.std)
    repeat = model.tokens.num_frames if model.tokens.is_video else 1  # official V-JEPA image eval
    feats = []
    for start in range(0, len(images), opts["batch_size"]):
        chunk = images[start : start + opts["batch_size"]]
        frames = [_image_frames(im, opts["timeout_s"]) for im in chunk]
        clips = torch.cat([transform(f) for f in frames])  # [B, C, 1, h, w]
        clips = clips.expand(-1, -1, repeat, -1, -1)
        feats.append(_encode(model, clips, opts["layers"], opts["pool"], opts["amp"]))
    return Features(torch.cat(feats), layers=opts["layers"], pool=opts["pool"])


def _is_image_path(source: object) -> bool:
    return isinstance(source, (str, Path)) and Path(source).suffix.lower() in {
        e.lower() for e in IMAGE_EXTENSIONS}


def extract_features(
    encoder: VisionTransformer | Pretrained,
    source: str | Path | ImageLike | Sequence[ImageLike],
    *,
    preprocess: Preprocessing | None = None,
    frames_per_clip: int | None = None,
    frame_step: int | None = None,
    stride: int | None = None,
    pool: Pool = "none",
    layers: Sequence[int] | None = None,
    batch_size: int = 8,
    amp: bool = True,
    backend: str = DEFAULT_BACKEND,
    timeout_s: float | None = None,
) -> Features:
    """Features of a video (sliding windows) or of images, with the encoder frozen.

    Args:
        encoder: a `Pretrained` (its preprocessing is used) or a VisionTransformer; runs on the
            device it is on.
        source: a video path; an image path, PIL image or uint8 [3, H, W] tensor; a uint8
            [B, 3, H, W] tensor or a list of images.
        preprocess: overrides the encoder's preprocessing (resolution, mean/std, defaults).
        frames_per_clip, frame_step: window shape (default: the encoder's preprocessing).
        stride: source frames between window starts (default: one window length, no overlap).
        pool: "none" (token features) or "mean" (average over tokens).
        layers: block indices whose normed outputs to return (negative counts from the end);
            default: the final output only.
        batch_size: windows or images per forward pass.
        amp: bfloat16 autocast when the encoder is on a CUDA device.
        backend: video decoder ("pyav", "decord", "torchcodec").
        timeout_s: the longest wait for opening a file and for each batch's decode
            (None: no bound); past it DecodeError "timeout" is raised and the stuck decode
            is abandoned with the reader it holds.
    Raises:
        ValueError: bad options or inputs; vjepa.data.decoders.DecodeError for unreadable files.
    """
    _check_options(pool, batch_size, timeout_s)
    model, prep = _resolve(encoder, preprocess)
    opts = {"frames_per_clip": frames_per_clip, "frame_step": frame_step, "stride": stride,
            "pool": pool, "layers": tuple(layers) if layers is not None else None,
            "batch_size": batch_size, "amp": amp, "backend": backend,
            "timeout_s": timeout_s}
    if isinstance(source, torch.Tensor) and source.dim() == 4:
        return _images(model, prep, list(source), opts)
    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("no images given (empty list)")
        return _images(model, prep, source, opts)
    if isinstance(source, (Image.Image, torch.Tensor)) or _is_image_path(source):
        return _images(model, prep, [source], opts)
    if isinstance(source, (str, Path)):
        return _video(model, prep, Path(source), opts)
    raise ValueError(f"cannot extract features from a {type(source).__name__}")
