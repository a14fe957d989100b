"""Pieces shared by the kernels: padding index maps, nodata handling, input validation."""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

from cascade.errors import InputArrayError

PadMode = Literal["reflect", "symmetric", "edge", "constant"]

# Integer codes of the padding modes inside the kernels.
CONSTANT, EDGE, REFLECT, SYMMETRIC = 0, 1, 2, 3
_MODE_CODES: dict[str, int] = {
    "constant": CONSTANT,
    "edge": EDGE,
    "reflect": REFLECT,
    "symmetric": SYMMETRIC,
}

# Nodata modes inside the kernels.
NODATA_NONE, NODATA_VALUE, NODATA_NAN = 0, 1, 2

SUPPORTED_DTYPES = tuple(
    np.dtype(t)
    for t in (np.uint8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64)
)

# Kernels are compiled lazily per argument type and cached on disk next to this package.
njit = numba.njit(cache=True, nogil=True)
njit_parallel = numba.njit(cache=True, nogil=True, parallel=True)


@njit
def source_index(i: int, n: int, mode: int) -> int:
    """Index into an axis of length ``n`` that padded position ``i`` reads, or -1 for fill.

    ``i`` is relative to the axis start and may lie outside ``[0, n)``. The mapping equals
    ``numpy.pad``'s for every pad width, including pads longer than the axis (reflections
    bounce back and forth with period ``2 (n - 1)`` for ``reflect`` and ``2 n`` for
    ``symmetric``).
    """
    if 0 <= i < n:
        return i
    if mode == CONSTANT:
        return -1
    if mode == EDGE:
        return 0 if i < 0 else n - 1
    if mode == REFLECT:
        if n == 1:
            return 0
        period = 2 * (n - 1)
        j = i % period
        return j if j < n else period - j
    # SYMMETRIC
    period = 2 * n
    j = i % period
    return j if j < n else period - 1 - j


def mode_code(mode: str) -> int:
    """The kernel code of a padding mode, with a clear error for an unknown one."""
    try:
        return _MODE_CODES[mode]
    except (KeyError, TypeError):
        raise InputArrayError(
            f"unknown padding mode {mode!r}; expected one of {sorted(_MODE_CODES)}"
        ) from None


def check_scene(scene: object, name: str = "scene") -> np.ndarray:
    """Validate a ``(bands, height, width)`` scene array without copying it."""
    if not isinstance(scene, np.ndarray):
        raise InputArrayError(
            f"{name} must be a numpy array of shape (bands, height, width), got "
            f"{type(scene).__name__}; wrap it with numpy.asarray"
        )
    if scene.ndim != 3:
        hint = " (for a single band use scene[numpy.newaxis])" if scene.ndim == 2 else ""
        raise InputArrayError(
            f"{name} must have 3 dimensions (bands, height, width), got {scene.ndim} with "
            f"shape {scene.shape}{hint}"
        )
    if scene.size == 0:
        raise InputArrayError(f"{name} is empty: shape {scene.shape} has a zero-size axis")
    if scene.dtype not in SUPPORTED_DTYPES:
        raise InputArrayError(
            f"{name} has unsupported dtype {scene.dtype}; expected one of "
            f"{', '.join(str(d) for d in SUPPORTED_DTYPES)}; convert it with .astype(...)"
        )
    return scene


def check_geometry_matches(shape: tuple[int, ...], height: int, width: int, name: str) -> None:
    """Raise when an array's last two axes are not the geometry's scene size."""
    if tuple(shape[-2:]) != (height, width):
        raise InputArrayError(
            f"{name} has height x width {tuple(shape[-2:])} but the geometry is for a "
            f"{height} x {width} scene; build the geometry with SceneGeometry.from_shape"
        )


def nodata_params(nodata: float | None, dtype: np.dtype) -> tuple[int, float]:
    """``(mode, value)`` of a nodata value for the kernels, checked against the scene dtype.

    The value is cast to the scene's dtype first, so a float32 scene and a float64 nodata
    compare as the file stores them. An integer scene rejects a nodata it cannot hold.
    """
    if nodata is None:
        return NODATA_NONE, 0.0
    try:
        value = float(nodata)
    except (TypeError, ValueError):
        raise InputArrayError(f"nodata must be a number or None, got {nodata!r}") from None
    if np.isnan(value):
        if not np.issubdtype(dtype, np.floating):
            raise InputArrayError(
                f"nodata is NaN but the scene dtype is {dtype}, which cannot hold NaN; use a "
                "value of that dtype or None"
            )
        return NODATA_NAN, value
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if not value.is_integer() or not info.min <= value <= info.max:
            raise InputArrayError(
                f"nodata {nodata!r} cannot occur in a {dtype} scene (integers "
                f"{info.min}..{info.max}); pass the value the file uses, or None"
            )
        return NODATA_VALUE, value
    return NODATA_VALUE, float(np.asarray(value).astype(dtype))


def fill_values(
    fill_value: float | npt.ArrayLike | None,
    nodata: float | None,
    bands: int,
    dtype: np.dtype,
) -> np.ndarray:
    """Per-band constant fill of the scene's dtype: ``fill_value``, else nodata, else 0."""
    if fill_value is None:
        fill_value = 0 if nodata is None else nodata
    arr = np.asarray(fill_value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(bands, float(arr))
    if arr.shape != (bands,):
        raise InputArrayError(
            f"fill_value must be a scalar or one value per band ({bands}), got shape {arr.shape}"
        )
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        finite = np.isfinite(arr)
        if (
            not finite.all()
            or (arr != np.round(arr)).any()
            or (arr < info.min).any()
            or (arr > info.max).any()
        ):
            raise InputArrayError(
                f"fill_value {arr.tolist()} does not fit the scene dtype {dtype} "
                f"(integers {info.min}..{info.max})"
            )
    return arr.astype(dtype)


@njit
def pixel_is_nodata(scene: np.ndarray, row: int, col: int, mode: int, value: float) -> bool:
    """A pixel is No Data when every band holds the nodata value (GDAL's dataset mask rule)."""
    if mode == NODATA_NONE:
        return False
    for b in range(scene.shape[0]):
        v = scene[b, row, col]
        if mode == NODATA_NAN:
            if v == v:  # not NaN
                return False
        elif v != value:
            return False
    return True


@njit_parallel
def _nodata_mask_kernel(scene: np.ndarray, mode: int, value: float, out: np.ndarray) -> None:
    for r in numba.prange(scene.shape[1]):
        for c in range(scene.shape[2]):
            out[r, c] = pixel_is_nodata(scene, r, c, mode, value)


def nodata_mask(scene: np.ndarray, nodata: float | None) -> npt.NDArray[np.bool_]:
    """``(height, width)`` boolean mask, True where every band of the pixel equals ``nodata``.

    ``nodata`` may be NaN for float scenes; ``None`` gives an all-False mask.
    """
    scene = check_scene(scene)
    mode, value = nodata_params(nodata, scene.dtype)
    out = np.zeros(scene.shape[1:], dtype=np.bool_)
    if mode != NODATA_NONE:
        _nodata_mask_kernel(scene, mode, value, out)
    return out
