"""Stand-ins in one place: predictors and scenes with known masks (the engine tested without
TensorFlow), and the small random-weight Keras pair for the tests that need real models.

The scenes encode their mask in band 0 (cloud 5000, clear 1000, No Data 0 in every band), so a
fine stand-in that thresholds band 0 reproduces the mask exactly, and a coarse stand-in that
returns the mask's pooled cell classes routes exactly the truly mixed cells.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cascade.classes import CLOUD, CLOUDLESS, NODATA, OVERCAST, PARTLY_CLOUDY, SHADOW
from cascade.engine import CascadeModel
from cascade.geometry import SceneGeometry
from cascade.kernels import pool_labels
from cascade.models.artifacts import FINE_CLASS_NAMES_SHADOW, ModelSpec, Normalization

BANDS = ("B02", "B03", "B04", "B08")
CLOUD_VALUE, CLEAR_VALUE = 5000, 1000
SHADOW_VALUE = 300  # band 0 of a cloud-shadow pixel in the scenes of scene_with_shadow
SCALE = 1e-4  # model input is reflectance: 0.5 cloud, 0.1 clear


def specs(bands: tuple[str, ...] = BANDS, **geometry: int) -> tuple[ModelSpec, ModelSpec]:
    norm = Normalization(scale=SCALE)
    common = {"bands": bands, "normalization": norm, **geometry}
    coarse = ModelSpec(role="coarse", architecture="coarse-encoder", backbone="fake", **common)
    fine = ModelSpec(role="fine", architecture="Unet", backbone="fake", **common)
    return coarse, fine


def scene_with_mask(
    height: int, width: int, seed: int = 0, bands: int = len(BANDS), blocks: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """A uint16 scene whose band 0 encodes a blocky-plus-noisy mask, and that mask."""
    rng = np.random.default_rng(seed)
    coarse = rng.choice(
        np.array([0, 1, 2, 3], np.uint8), size=(blocks, blocks), p=[0.35, 0.3, 0.3, 0.05]
    )
    rep_h, rep_w = -(-height // blocks), -(-width // blocks)
    kind = np.kron(coarse, np.ones((rep_h, rep_w), np.uint8))[:height, :width]
    noisy = rng.random((height, width)) < 0.5
    mask = np.where(kind == 0, CLOUD, 0).astype(np.uint8)  # 0: cloud blocks, 1: clear
    mask[kind == 2] = noisy[kind == 2].astype(np.uint8)  # 2: mixed blocks
    mask[kind == 3] = NODATA  # 3: no data blocks
    scene = rng.integers(200, 3000, size=(bands, height, width)).astype(np.uint16)
    scene[0] = np.where(mask == CLOUD, CLOUD_VALUE, CLEAR_VALUE)
    scene[:, mask == NODATA] = 0
    return scene, mask


def oracle_coarse(
    truth: np.ndarray, geometry: SceneGeometry, calls: list | None = None
) -> Callable:
    """Coarse stand-in: one-hot of the truth's pooled cell classes; checks its input shape."""
    classes = pool_labels(truth, geometry)
    onehot = np.eye(4, dtype=np.float32)[classes][np.newaxis]

    def predict(batch: np.ndarray) -> np.ndarray:
        assert batch.shape[:3] == (1, *geometry.coarse_shape), batch.shape
        assert batch.dtype == np.float32
        if calls is not None:
            calls.append(batch.shape)
        return onehot

    return predict


def _cell_blocks(batch: np.ndarray, stride: int) -> np.ndarray:
    """Band 0 of a coarse input ``(1, rows * stride, cols * stride, bands)`` as
    ``(rows, cols, stride * stride)``: each cell's coarse pixels."""
    x = batch[0, ..., 0]
    rows, cols = x.shape[0] // stride, x.shape[1] // stride
    return x.reshape(rows, stride, cols, stride).transpose(0, 2, 1, 3).reshape(rows, cols, -1)


def band0_coarse(stride: int = 32) -> Callable:
    """Coarse stand-in that reads its input, like a model would: per cell, Overcast when
    every coarse pixel of band 0 is cloud-bright (normalised >= 0.45), Cloudless when every
    one is dark (< 0.15; No Data and padding are 0), else Partly Cloudy. On the scenes of
    :func:`scene_with_mask` it never makes a cell's mask wrong."""

    def predict(batch: np.ndarray) -> np.ndarray:
        cells = _cell_blocks(batch, stride)
        classes = np.full(cells.shape[:2], PARTLY_CLOUDY)
        classes[(cells >= 0.45).all(axis=-1)] = OVERCAST
        classes[(cells < 0.15).all(axis=-1)] = CLOUDLESS
        return np.eye(4, dtype=np.float32)[classes][np.newaxis]

    return predict


def padding_fooled_coarse(stride: int = 32) -> Callable:
    """:func:`band0_coarse`, except that a cell whose input is mostly empty (0: padding or
    No Data) is called Overcast: what the shipped coarse model does with thin edge cells."""
    base = band0_coarse(stride)

    def predict(batch: np.ndarray) -> np.ndarray:
        out = base(batch)
        thin = (_cell_blocks(batch, stride) == 0).mean(axis=-1) > 0.5
        out[0][thin] = np.eye(4, dtype=np.float32)[OVERCAST]
        return out

    return predict


def threshold_fine(calls: list | None = None) -> Callable:
    """Fine stand-in: cloud probability 1 where normalised band 0 is above 0.3, else 0."""

    def predict(batch: np.ndarray) -> np.ndarray:
        assert batch.ndim == 4
        assert batch.dtype == np.float32
        if calls is not None:
            calls.append(batch.shape[0])
        cloud = (batch[..., 0] > 0.3).astype(np.float32)
        return np.stack([cloud, 1 - cloud, np.zeros_like(cloud)], axis=-1)

    return predict


def smooth_fine(batch: np.ndarray) -> np.ndarray:
    """Fine stand-in whose output depends on each pixel's neighbours (so margins matter)."""
    x = batch[..., 0]
    box = (
        x
        + np.roll(x, 1, axis=1)
        + np.roll(x, -1, axis=1)
        + np.roll(x, 1, axis=2)
        + np.roll(x, -1, axis=2)
    ) / 5.0
    p = 1.0 / (1.0 + np.exp(-(box - 0.3) * 20.0))
    return np.stack([p, 1 - p], axis=-1).astype(np.float32)


def make_model(
    coarse: Callable, fine: Callable, bands: tuple[str, ...] = BANDS, **geometry: int
) -> CascadeModel:
    c, f = specs(bands, **geometry)
    return CascadeModel(coarse=coarse, fine=fine, coarse_spec=c, fine_spec=f, name="fake")


def random_weight_pair(
    folder: Path,
    bands: tuple[str, ...] = BANDS,
    *,
    threshold: float = 0.5,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """A small real model pair on disk: mobilenetv2 backbones with random weights (Keras)."""
    from cascade import models

    folder.mkdir(parents=True, exist_ok=True)
    norm = Normalization(scale=1e-4, mean=(0.1,) * len(bands), std=(0.05,) * len(bands))
    common: dict[str, Any] = {
        "backbone": "mobilenetv2",
        "bands": bands,
        "normalization": norm,
        "provenance": provenance or {},
    }
    c = ModelSpec(role="coarse", architecture="coarse-encoder", **common)
    f = ModelSpec(role="fine", architecture="Unet", threshold=threshold, **common)
    models.save_model(models.build_model(c), c, folder)
    models.save_model(models.build_model(f), f, folder)
    return folder


def scene_with_shadow(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`scene_with_mask` with cloud shadow (band 0 :data:`SHADOW_VALUE`): on some clear
    pixels everywhere, and on a square inside cell (0, 1), made clear otherwise (a cell of
    usable ground and shadow, no cloud); needs ``height, width >= 496``."""
    scene, mask = scene_with_mask(height, width, seed=seed)
    rng = np.random.default_rng(seed + 1)
    cell = (slice(0, 248), slice(248, 496))
    mask[cell] = 0
    scene[0][cell] = CLEAR_VALUE
    shade = (mask == 0) & (rng.random(mask.shape) < 0.3)
    shade[cell] = False
    shade[60:160, 300:420] = True
    mask[shade] = SHADOW
    scene[0][shade] = SHADOW_VALUE
    return scene, mask


def shadow_fine(batch: np.ndarray) -> np.ndarray:
    """Fine stand-in with four outputs (cloud, clear, No Data, shadow): cloud where normalised
    band 0 is above 0.3, shadow (probability 0.9) where it is dark but not empty (0.01 ..
    0.05)."""
    x = batch[..., 0]
    cloud = (x > 0.3).astype(np.float32)
    shade = ((x > 0.01) & (x < 0.05)).astype(np.float32) * np.float32(0.9)
    empty = (x == 0).astype(np.float32)
    return np.stack([cloud, 1 - cloud - shade, empty, shade], axis=-1)


def make_shadow_model(
    coarse: Callable, fine: Callable = shadow_fine, **options: Any
) -> CascadeModel:
    """:func:`make_model` whose fine sidecar has the shadow class (and ``options``)."""
    c, f = specs()
    f = f.with_updates(classes=FINE_CLASS_NAMES_SHADOW, options=dict(options))
    return CascadeModel(coarse=coarse, fine=fine, coarse_spec=c, fine_spec=f, name="fake-shadow")


def patch_baseline(
    scene: np.ndarray,
    g: SceneGeometry,
    fine: Callable,
    label: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """The fine model on every cell, computed without the engine: pad, slice, predict, place;
    ``label`` turns a window's probabilities ``(patch, patch, k)`` into mask codes. No Data
    where every band is 0."""
    from cascade.kernels.reference import pad_scene_ref

    _c, f = specs()
    gain, offset = f.normalization.coefficients(scene.shape[0])
    padded = pad_scene_ref(scene, g, mode="reflect")
    out = np.zeros(g.padded_shape, np.uint8)
    core, m, p = g.core, g.margin, g.patch
    for row, col in g.iter_cells():
        win = padded[:, row * core : row * core + p, col * core : col * core + p]
        x = win.transpose(1, 2, 0).astype(np.float32) * gain + offset
        lab = label(fine(x[np.newaxis])[0])
        out[row * core : (row + 1) * core, col * core : (col + 1) * core] = lab[
            m : m + core, m : m + core
        ]
    mask = out[: g.height, : g.width].copy()
    mask[(scene == 0).all(axis=0)] = NODATA
    return mask
