"""Completion padding plus the outer margin, and its inverse."""

from __future__ import annotations

from typing import Literal, TypeVar

import numba
import numpy as np
import numpy.typing as npt

from cascade.errors import InputArrayError
from cascade.geometry import SceneGeometry
from cascade.kernels._common import (
    CONSTANT,
    PadMode,
    check_geometry_matches,
    check_scene,
    fill_values,
    mode_code,
    njit,
    njit_parallel,
    nodata_params,
    source_index,
)

__all__ = ["crop_padding", "pad_scene", "padding_index_map"]

Extent = Literal["extended", "padded"]
ArrayT = TypeVar("ArrayT", bound=np.ndarray)


@njit
def _index_map(n_out: int, offset: int, n: int, mode: int) -> np.ndarray:
    out = np.empty(n_out, dtype=np.int64)
    for i in range(n_out):
        out[i] = source_index(i - offset, n, mode)
    return out


def padding_index_map(n_out: int, offset: int, n: int, mode: PadMode) -> npt.NDArray[np.int64]:
    """Source index of each of ``n_out`` padded positions (-1 where a constant fills).

    Position ``i`` of the padded axis holds element ``i - offset`` of the original axis of
    length ``n``, mirrored or clamped by ``mode`` where that lies outside it.
    """
    return _index_map(n_out, offset, n, mode_code(mode))


@njit_parallel
def _pad_kernel(
    scene: np.ndarray,
    out: np.ndarray,
    row_map: np.ndarray,
    col_map: np.ndarray,
    fill: np.ndarray,
    col_start: int,
) -> None:
    bands, out_h, out_w = out.shape
    width = scene.shape[2]
    # One task per (band, output row): rows are long, so this balances well and every
    # task writes a disjoint row.
    for t in numba.prange(bands * out_h):
        b = t // out_h
        r = t % out_h
        src_r = row_map[r]
        if src_r < 0:
            out[b, r, :] = fill[b]
            continue
        out[b, r, col_start : col_start + width] = scene[b, src_r, :]
        for c in range(col_start):
            src_c = col_map[c]
            out[b, r, c] = scene[b, src_r, src_c] if src_c >= 0 else fill[b]
        for c in range(col_start + width, out_w):
            src_c = col_map[c]
            out[b, r, c] = scene[b, src_r, src_c] if src_c >= 0 else fill[b]


def pad_scene(
    scene: np.ndarray,
    geometry: SceneGeometry,
    *,
    mode: PadMode = "reflect",
    fill_value: float | npt.ArrayLike | None = None,
    nodata: float | None = None,
    extent: Extent = "extended",
) -> np.ndarray:
    """Pad a scene to whole cells (bottom and right) and add the outer margin (all sides).

    Parameters
    ----------
    scene:
        ``(bands, height, width)`` array of a supported dtype; its size must match
        ``geometry``.
    mode:
        How the padding is filled: ``"reflect"`` (mirror without repeating the edge pixel,
        the default: the fine model sees plausible context at the scene border),
        ``"symmetric"`` (mirror repeating it), ``"edge"`` or ``"constant"``. Same meaning as
        :func:`numpy.pad`, also for pads longer than the scene.
    fill_value:
        Constant of ``mode="constant"``, a scalar or one value per band. Defaults to
        ``nodata`` when that is given (so the padding reads as No Data downstream), else 0.
    nodata:
        The scene's nodata value (NaN allowed for float scenes); used as the default fill.
        Nodata pixels are mirrored like any other pixel by the non-constant modes.
    extent:
        ``"extended"`` (default): ``geometry.extended_shape``, the padded scene plus
        ``margin`` pixels on every side, where every cell's patch window lies; scene pixel
        ``(0, 0)`` lands at ``(margin, margin)``. ``"padded"``: ``geometry.padded_shape``,
        completion padding only; scene pixel ``(0, 0)`` stays at ``(0, 0)``.

    Returns
    -------
    numpy.ndarray
        ``(bands, H, W)`` array of the scene's dtype.
    """
    scene = check_scene(scene)
    check_geometry_matches(scene.shape, geometry.height, geometry.width, "scene")
    code = mode_code(mode)
    nodata_params(nodata, scene.dtype)  # validates nodata against the dtype
    fill = fill_values(fill_value if code == CONSTANT else 0, nodata, scene.shape[0], scene.dtype)
    if extent == "extended":
        out_h, out_w = geometry.extended_shape
        offset = geometry.margin
    elif extent == "padded":
        out_h, out_w = geometry.padded_shape
        offset = 0
    else:
        raise InputArrayError(f"extent must be 'extended' or 'padded', got {extent!r}")
    row_map = _index_map(out_h, offset, geometry.height, code)
    col_map = _index_map(out_w, offset, geometry.width, code)
    out = np.empty((scene.shape[0], out_h, out_w), dtype=scene.dtype)
    _pad_kernel(scene, out, row_map, col_map, fill, offset)
    return out


def crop_padding(array: ArrayT, geometry: SceneGeometry, *, extent: Extent = "extended") -> ArrayT:
    """The scene part of a padded array (a view): the inverse of :func:`pad_scene`.

    ``array`` has the padded size in its last two axes (``(..., H, W)``).
    """
    if extent == "extended":
        expected, offset = geometry.extended_shape, geometry.margin
    elif extent == "padded":
        expected, offset = geometry.padded_shape, 0
    else:
        raise InputArrayError(f"extent must be 'extended' or 'padded', got {extent!r}")
    if array.ndim < 2 or tuple(array.shape[-2:]) != expected:
        raise InputArrayError(
            f"expected an array whose last two axes are the {extent} shape {expected}, got "
            f"shape {array.shape}"
        )
    rows = slice(offset, offset + geometry.height)
    cols = slice(offset, offset + geometry.width)
    return array[..., rows, cols]  # type: ignore[return-value]
