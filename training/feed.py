"""Feeding the derived HDF5 sets to Keras: ``tf.data`` datasets of normalised samples."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.engine import coarse_input
from cascade.errors import DeriveError
from cascade.kernels import PooledScene
from training.derive import SPLITS, open_set
from training.recipe import FitConfig

__all__ = [
    "coarse_samples",
    "fine_samples",
    "indices",
    "malloc_keep_memory",
    "norm",
    "train_and_val",
]


def indices(h5: Any, split: str, path: str) -> np.ndarray:
    idx = np.flatnonzero(h5["split"][:] == SPLITS.index(split))
    if idx.size == 0:
        raise DeriveError(
            f"the {split} split of {path} is empty; derive with more scenes or a larger "
            f"{'val_fraction' if split == 'val' else 'share of training scenes'}"
        )
    return idx


def norm(h5: Any) -> tuple[np.ndarray, np.ndarray]:
    """(gain, offset) of the training data's standardisation, in reflectance units."""
    mean = np.asarray(h5.attrs["norm_mean"], np.float32)
    std = np.asarray(h5.attrs["norm_std"], np.float32)
    return (1.0 / std).astype(np.float32), (-mean / std).astype(np.float32)


def _order(
    h5: Any, split: str, path: Path, shuffle: bool, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sample order, gain, offset)`` of a split of an open set."""
    idx = indices(h5, split, str(path))
    gain, offset = norm(h5)
    return (np.random.default_rng(seed).permutation(idx) if shuffle else idx), gain, offset


def coarse_samples(
    path: Path,
    split: str,
    shuffle: bool,
    seed: int,
    normalization: tuple[np.ndarray, np.ndarray] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Coarse samples of a split; ``normalization`` ``(gain, offset)`` replaces the set's own
    (a recipe with ``[mix]`` normalises both models with the mixed sources' statistics)."""
    with open_set(path, "coarse") as h5:
        order, gain, offset = _order(h5, split, path, shuffle, seed)
        if normalization is not None:
            gain, offset = normalization
        for i in order:
            pooled = PooledScene(h5["x"][i].transpose(2, 0, 1), h5["valid"][i])
            # The same function the engine uses to feed the coarse model.
            yield coarse_input(pooled, gain, offset)[0], h5["y"][i]


def _fine_targets(y: np.ndarray) -> np.ndarray:
    return np.stack([y == CLOUD, y == CLEAR, y == NODATA], axis=-1).astype(np.float32)


def fine_samples(
    path: Path, split: str, shuffle: bool, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    with open_set(path, "fine") as h5:
        order, gain, offset = _order(h5, split, path, shuffle, seed)
        for i in order:
            yield h5["x"][i] * gain + offset, _fine_targets(h5["y"][i])


def malloc_keep_memory() -> None:
    """Undo TensorFlow's glibc tuning for generator datasets (Linux only).

    ``Dataset.from_generator`` sets glibc's ``M_TRIM_THRESHOLD`` to 128 KB, so the multi-MB
    buffers of every training step are handed back to the kernel and faulted in again: here
    the fine model's steps spent as much time in the kernel as in user space. Large
    thresholds keep them in the heap for reuse (measured: 8 steps of U-Net/MobileNetV2 at
    batch 8 in 27.5 s instead of 81.9 s, kernel time 2.0 s instead of 24.1 s).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return


def _dataset(
    gen: Any,
    path: Path,
    split: str,
    shapes: tuple[tuple[int | None, ...], ...],
    batch: int,
    shuffle: bool,
    seed: int,
    repeat: bool,
) -> Any:
    import tensorflow as tf

    def samples() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # TensorFlow applies its malloc setting when the generator dataset starts; this runs
        # just after.
        malloc_keep_memory()
        yield from gen(path, split, shuffle, seed)

    ds = tf.data.Dataset.from_generator(
        samples,
        output_signature=tuple(tf.TensorSpec(s, tf.float32) for s in shapes),
    )
    if repeat:
        ds = ds.repeat()
    # A fixed batch size (the training set repeats, so nothing is lost) keeps Keras from
    # tracing its train step again for every new batch shape.
    return ds.batch(batch, drop_remainder=repeat).prefetch(2)


def train_and_val(
    gen: Any, path: Path, shapes: tuple[tuple[int | None, ...], ...], cfg: FitConfig, seed: int
) -> tuple[Any, Any]:
    """The training dataset (shuffled, repeating) and the validation dataset of a set.

    Validation order is shuffled with the seed, so a capped ``validation_steps`` still sees
    every validation scene; a capped validation set repeats rather than running dry.
    """
    capped = (cfg.validation_steps or cfg.steps_per_epoch) is not None
    train = _dataset(gen, path, "train", shapes, cfg.batch_size, True, seed, True)
    val = _dataset(gen, path, "val", shapes, cfg.batch_size, True, seed, capped)
    return train, val
