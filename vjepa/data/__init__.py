"""Data: video readers, clip sampling, datasets, transforms, bad-sample tracking, synthetic sets.

Public API::

    open_video(path, backend="pyav", num_threads=1)  # reader: len, fps, get_batch, close
    build_dataset(kind="video" | "image", sources=[...], training=True, ...)
    VideoDataset, ImageDataset    # items: video, label, index, clip_indices, bad
    collate_samples(batch)                             # DataLoader collate_fn
    BadSampleTracker(max_fraction=0.01)                # main-process counting of broken files
    make_synthetic_videos(root, ...), make_synthetic_images(root, ...)  # -> index path
"""

from vjepa.data.bad_samples import BadSampleTracker, TooManyBadSamples
from vjepa.data.builder import build_dataset
from vjepa.data.collate import collate_samples
from vjepa.data.datasets import ImageDataset, VideoDataset, sample_generator
from vjepa.data.decoders import (
    BACKENDS,
    DECODE_REASONS,
    DEFAULT_BACKEND,
    DecodeError,
    VideoReader,
    available_backends,
    open_video,
    read_frames,
)
from vjepa.data.index import Sample, mix_sources, read_index_file, scan_folder
from vjepa.data.sampling import SHORT_POLICIES, resolve_frame_step, sample_clip_indices
from vjepa.data.synthetic import make_synthetic_images, make_synthetic_videos
from vjepa.data.transforms import (
    IMAGE_RATIO,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VIDEO_RATIO,
    EvalClipTransform,
    TrainClipTransform,
    normalize_batch,
    normalize_clip,
)

__all__ = [
    "BACKENDS", "DECODE_REASONS", "DEFAULT_BACKEND", "IMAGENET_MEAN", "IMAGENET_STD",
    "IMAGE_RATIO", "SHORT_POLICIES", "VIDEO_RATIO", "BadSampleTracker", "DecodeError",
    "EvalClipTransform", "ImageDataset", "Sample", "TooManyBadSamples", "TrainClipTransform",
    "VideoDataset", "VideoReader", "available_backends", "build_dataset", "collate_samples",
    "make_synthetic_images", "make_synthetic_videos", "mix_sources", "normalize_batch",
    "normalize_clip", "open_video", "read_frames", "read_index_file", "resolve_frame_step",
    "sample_clip_indices", "sample_generator", "scan_folder",
]
