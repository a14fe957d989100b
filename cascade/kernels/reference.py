"""Plain numpy references of the kernels, for the agreement tests and the benchmarks.

Each function computes what its kernel computes, in the most direct vectorised numpy we could
write, with no code shared with the kernel's formulation: padding is :func:`numpy.pad`, area
pooling goes through an integral image (cumulative sums) instead of per-pixel overlaps, label
pooling reshapes the padded mask into blocks, and the patch functions slice a padded scene.
They validate less than the public kernels and hold whole temporaries in memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.geometry import SceneGeometry
from cascade.kernels.labels import NodataPolicy, classify_cells
from cascade.kernels.padding import Extent
from cascade.kernels.pooling import PooledScene

__all__ = [
    "cell_counts_ref",
    "extract_patches_ref",
    "nodata_mask_ref",
    "pad_scene_ref",
    "pool_area_ref",
    "pool_labels_ref",
    "reassemble_patches_ref",
]


def nodata_mask_ref(scene: np.ndarray, nodata: float | None) -> npt.NDArray[np.bool_]:
    """True where every band equals ``nodata`` (NaN-aware)."""
    if nodata is None:
        return np.zeros(scene.shape[1:], dtype=np.bool_)
    if np.isnan(nodata):
        return np.isnan(scene).all(axis=0)
    return (scene == np.asarray(nodata).astype(scene.dtype)).all(axis=0)


def pad_scene_ref(
    scene: np.ndarray,
    geometry: SceneGeometry,
    *,
    mode: str = "reflect",
    fill_value: float | npt.ArrayLike | None = None,
    nodata: float | None = None,
    extent: Extent = "extended",
) -> np.ndarray:
    """:func:`cascade.kernels.pad_scene` with one :func:`numpy.pad` call (per band only for
    per-band constants)."""
    m = geometry.margin if extent == "extended" else 0
    widths = ((0, 0), (m, geometry.pad_bottom + m), (m, geometry.pad_right + m))
    if mode != "constant":
        return np.pad(scene, widths, mode=mode)  # type: ignore[call-overload]
    if fill_value is None:
        fill_value = 0 if nodata is None else nodata
    fills = np.broadcast_to(np.asarray(fill_value, dtype=np.float64), (scene.shape[0],))
    if (fills == fills[0]).all():
        fill = np.asarray(fills[0]).astype(scene.dtype)
        return np.pad(scene, widths, mode="constant", constant_values=fill)
    bands = [
        np.pad(scene[b], widths[1:], mode="constant", constant_values=fills[b].astype(scene.dtype))
        for b in range(scene.shape[0])
    ]
    return np.stack(bands)


def _pool_last_axis(x: np.ndarray, n_out: int, core: int, stride: int) -> np.ndarray:
    """Area sums along the last axis through its integral.

    In units where an input pixel is ``stride`` long and an output pixel ``core`` long, the
    integral up to position ``t`` is the sum of the whole pixels before ``t`` plus the part of
    the pixel containing ``t``; an output pixel is the difference of the integral at its ends.
    """
    n = x.shape[-1]
    integral = np.zeros((*x.shape[:-1], n + 1), dtype=np.float64)
    np.cumsum(x * float(stride), axis=-1, out=integral[..., 1:])
    t = np.minimum(np.arange(n_out + 1, dtype=np.int64) * core, n * stride)
    k = np.minimum(t // stride, n - 1)
    partial = (t - k * stride).astype(np.float64)
    at_end = t >= n * stride
    values = integral[..., k] + x[..., k] * partial
    values[..., at_end] = integral[..., n : n + 1]
    return np.diff(values, axis=-1)


def _pool_2d(x: np.ndarray, geometry: SceneGeometry) -> np.ndarray:
    out_h, out_w = geometry.coarse_shape
    cols = _pool_last_axis(x, out_w, geometry.core, geometry.stride)
    return _pool_last_axis(cols.T, out_h, geometry.core, geometry.stride).T


def pool_area_ref(
    scene: np.ndarray,
    geometry: SceneGeometry,
    *,
    nodata: float | None = None,
    fill_value: float = 0.0,
) -> PooledScene:
    """:func:`cascade.kernels.pool_area` through integral images, one band at a time."""
    valid = ~nodata_mask_ref(scene, nodata)
    weights = _pool_2d(valid.astype(np.float64), geometry)
    has = weights > 0
    values = np.empty((scene.shape[0], *geometry.coarse_shape), dtype=np.float32)
    for b in range(scene.shape[0]):
        sums = _pool_2d(np.where(valid, scene[b], 0).astype(np.float64), geometry)
        with np.errstate(invalid="ignore", divide="ignore"):
            values[b] = np.where(has, sums / weights, fill_value)
    core = geometry.core
    # Weights here are in pixel-area units scaled by stride**2; a full coarse pixel holds
    # core**2 of them.
    return PooledScene(values=values, valid_fraction=(weights / core**2).astype(np.float32))


def cell_counts_ref(mask: np.ndarray, geometry: SceneGeometry) -> npt.NDArray[np.int64]:
    """Per-cell (clear, unusable, no data) counts by reshaping the padded mask into blocks;
    unusable = cloud or cloud shadow."""
    if not np.isin(mask, (CLEAR, CLOUD, SHADOW, NODATA)).all():
        raise ValueError("mask holds values other than 0, 1, 2 and 255")
    padded = np.full(geometry.padded_shape, NODATA, dtype=np.uint8)
    padded[: geometry.height, : geometry.width] = mask
    c = geometry.core
    blocks = padded.reshape(geometry.rows, c, geometry.cols, c)
    unusable = np.isin(blocks, (CLOUD, SHADOW))
    return np.stack(
        [
            (blocks == CLEAR).sum(axis=(1, 3)),
            unusable.sum(axis=(1, 3)),
            (blocks == NODATA).sum(axis=(1, 3)),
        ],
        axis=-1,
    )


def pool_labels_ref(
    mask: np.ndarray, geometry: SceneGeometry, policy: NodataPolicy | None = None
) -> npt.NDArray[np.uint8]:
    """:func:`cascade.kernels.pool_labels` from :func:`cell_counts_ref`."""
    return classify_cells(cell_counts_ref(mask, geometry), policy)


def extract_patches_ref(
    scene: np.ndarray,
    geometry: SceneGeometry,
    cells: npt.ArrayLike,
    *,
    mode: str = "reflect",
    fill_value: float | npt.ArrayLike | None = None,
    nodata: float | None = None,
) -> np.ndarray:
    """Pad the whole scene with :func:`pad_scene_ref`, then slice and transpose each window."""
    padded = pad_scene_ref(scene, geometry, mode=mode, fill_value=fill_value, nodata=nodata)
    cells = np.asarray(cells).reshape(-1, 2)
    c, p = geometry.core, geometry.patch
    out = np.empty((len(cells), p, p, scene.shape[0]), dtype=scene.dtype)
    for i, (row, col) in enumerate(cells):
        # The extended array starts at (-margin, -margin): a window's top-left is row * core.
        out[i] = padded[:, row * c : row * c + p, col * c : col * c + p].transpose(1, 2, 0)
    return out


def reassemble_patches_ref(
    patches: np.ndarray,
    geometry: SceneGeometry,
    cells: npt.ArrayLike,
    *,
    out: np.ndarray | None = None,
    fill_value: float = 0,
) -> np.ndarray:
    """Crop each patch to its core with slicing and assign it into the output."""
    cells = np.asarray(cells).reshape(-1, 2)
    if out is None:
        out = np.full(geometry.scene_shape + patches.shape[3:], fill_value, dtype=patches.dtype)
    c, m = geometry.core, geometry.margin
    h, w = geometry.scene_shape
    for i, (row, col) in enumerate(cells):
        r0, c0 = row * c, col * c
        rh, cw = min(c, h - r0), min(c, w - c0)
        out[r0 : r0 + rh, c0 : c0 + cw] = patches[i, m : m + rh, m : m + cw]
    return out
