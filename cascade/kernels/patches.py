"""Overlapped patch extraction and reassembly.

Extraction cuts each requested cell's ``patch x patch`` margin window out of the scene,
padding on the fly where the window leaves the scene (the same padding as
:func:`cascade.kernels.pad_scene`, without building the padded scene), and returns the patches
channels-last, ``(n, patch, patch, bands)``, the layout the fine model takes. Underneath,
windows are gathered through per-window row and column index maps
(:func:`window_index_maps`), so the same kernel serves a whole scene in memory and a strip of
rows read from disk (:func:`extract_windows`).

Reassembly crops each predicted patch to its ``core x core`` centre and writes it at the
cell's place in a scene-sized output, dropping what falls in the completion padding. Cells
come in any subset and any order; each is written once.
"""

from __future__ import annotations

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
    njit_parallel,
    nodata_params,
)
from cascade.kernels.padding import padding_index_map

__all__ = ["extract_patches", "extract_windows", "reassemble_patches", "window_index_maps"]


@njit_parallel
def _extract_kernel(
    source: np.ndarray,
    row_maps: np.ndarray,
    col_maps: np.ndarray,
    fill: np.ndarray,
    out: np.ndarray,
) -> None:
    bands = source.shape[0]
    patch_h, patch_w = out.shape[1], out.shape[2]
    for p in numba.prange(out.shape[0]):
        cols = col_maps[p]
        # Most windows read a contiguous run of columns: copy those without the index map.
        contiguous = cols[0] >= 0
        for x in range(1, patch_w):
            if cols[x] != cols[0] + x:
                contiguous = False
                break
        c0 = cols[0]
        for y in range(patch_h):
            sr = row_maps[p, y]
            for b in range(bands):
                # One band's row at a time: sequential reads, writes strided by `bands`.
                dst = out[p, y, :, b]
                if sr < 0:
                    dst[:] = fill[b]
                    continue
                src = source[b, sr]
                if contiguous:
                    for x in range(patch_w):
                        dst[x] = src[c0 + x]
                else:
                    for x in range(patch_w):
                        sc = cols[x]
                        dst[x] = src[sc] if sc >= 0 else fill[b]


def window_index_maps(
    geometry: SceneGeometry, cells: npt.ArrayLike | None = None, *, mode: PadMode = "reflect"
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Scene row and column read by each pixel of each cell's patch window.

    Returns ``(row_maps, col_maps)``, each ``(n, patch)`` int64: pixel ``(y, x)`` of window
    ``i`` is scene pixel ``(row_maps[i, y], col_maps[i, x])``, mirrored or clamped into the
    scene by ``mode`` where the window leaves it, and -1 where ``mode="constant"`` fills.
    Subtract a strip's first row from the non-negative entries to index into the strip.
    """
    cell_arr = geometry.cells() if cells is None else geometry.check_cells(cells, unique=False)
    ext_h, ext_w = geometry.extended_shape
    rows = padding_index_map(ext_h, geometry.margin, geometry.height, mode)
    cols = padding_index_map(ext_w, geometry.margin, geometry.width, mode)
    # The extended axes start at -margin, so window i starts at (row * core, col * core).
    offsets = np.arange(geometry.patch, dtype=np.int64)
    return rows[cell_arr[:, :1] * geometry.core + offsets], cols[
        cell_arr[:, 1:] * geometry.core + offsets
    ]


def _check_out(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise InputArrayError(
            f"out must be a C-contiguous {dtype} array of shape {shape}, got "
            f"{out.dtype} {out.shape} (C-contiguous: {out.flags.c_contiguous})"
        )
    return out


def extract_windows(
    source: np.ndarray,
    row_maps: npt.ArrayLike,
    col_maps: npt.ArrayLike,
    *,
    fill: npt.ArrayLike = 0,
    dtype: npt.DTypeLike | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gather windows ``(n, h, w, bands)`` from ``source`` ``(bands, rows, cols)`` by index maps.

    ``row_maps`` ``(n, h)`` and ``col_maps`` ``(n, w)`` index into ``source``, -1 meaning
    ``fill`` (a scalar or one value per band), as :func:`window_index_maps` makes them. This is
    the kernel under :func:`extract_patches`; the engine calls it on strips read from disk.
    """
    source = check_scene(source, "source")
    rmaps = np.ascontiguousarray(row_maps, dtype=np.int64)
    cmaps = np.ascontiguousarray(col_maps, dtype=np.int64)
    if rmaps.ndim != 2 or cmaps.ndim != 2 or rmaps.shape[0] != cmaps.shape[0]:
        raise InputArrayError(
            f"row_maps and col_maps must be (n, h) and (n, w) with the same n, got "
            f"{rmaps.shape} and {cmaps.shape}"
        )
    for name, maps, size in (
        ("row_maps", rmaps, source.shape[1]),
        ("col_maps", cmaps, source.shape[2]),
    ):
        if maps.size and (maps.max() >= size or maps.min() < -1):
            raise InputArrayError(
                f"{name} hold indices {maps.min()}..{maps.max()} but the source has {size} "
                f"along that axis (-1 marks fill)"
            )
    out_dtype = source.dtype if dtype is None else np.dtype(dtype)
    fills = np.broadcast_to(np.asarray(fill), (source.shape[0],)).astype(out_dtype)
    shape = (rmaps.shape[0], rmaps.shape[1], cmaps.shape[1], source.shape[0])
    out = _check_out(out, shape, out_dtype)
    if shape[0] and shape[1] and shape[2]:
        _extract_kernel(source, rmaps, cmaps, fills, out)
    return out


def extract_patches(
    scene: np.ndarray,
    geometry: SceneGeometry,
    cells: npt.ArrayLike | None = None,
    *,
    mode: PadMode = "reflect",
    fill_value: float | npt.ArrayLike | None = None,
    nodata: float | None = None,
    dtype: npt.DTypeLike | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The fine model's input windows of ``cells``: ``(n, patch, patch, bands)``.

    Parameters
    ----------
    scene:
        ``(bands, height, width)`` scene matching ``geometry`` (a memory map works: only
        the windows are read).
    cells:
        ``(n, 2)`` ``(row, col)`` pairs in any order (repeats allowed), or a boolean
        ``grid_shape`` selection; ``None`` for every cell in row-major order. Patch ``i`` is the
        window of ``cells[i]``.
    mode, fill_value, nodata:
        Padding where a window leaves the scene, as in :func:`cascade.kernels.pad_scene`.
    dtype:
        Output dtype (the cast is done while copying); default the scene's. Use float32 for
        a model's input.
    out:
        Optional C-contiguous preallocated output of the right shape and dtype (reuse one
        buffer per batch).
    """
    scene = check_scene(scene)
    check_geometry_matches(scene.shape, geometry.height, geometry.width, "scene")
    code = mode_code(mode)
    nodata_params(nodata, scene.dtype)
    fill = fill_values(fill_value if code == CONSTANT else 0, nodata, scene.shape[0], scene.dtype)
    out_dtype = scene.dtype if dtype is None else np.dtype(dtype)
    row_maps, col_maps = window_index_maps(geometry, cells, mode=mode)
    shape = (row_maps.shape[0], geometry.patch, geometry.patch, scene.shape[0])
    out = _check_out(out, shape, out_dtype)
    if shape[0]:
        _extract_kernel(scene, row_maps, col_maps, fill.astype(out_dtype), out)
    return out


@njit_parallel
def _reassemble_kernel(
    patches: np.ndarray, cells: np.ndarray, core: int, margin: int, out: np.ndarray
) -> None:
    # Works for (n, p, p) -> (h, w) and (n, p, p, k) -> (h, w, k): row slices are copied whole.
    height, width = out.shape[0], out.shape[1]
    for p in numba.prange(cells.shape[0]):
        row0 = cells[p, 0] * core
        col0 = cells[p, 1] * core
        rows = min(core, height - row0)
        cols = min(core, width - col0)
        for y in range(rows):
            out[row0 + y, col0 : col0 + cols] = patches[p, margin + y, margin : margin + cols]


def reassemble_patches(
    patches: np.ndarray,
    geometry: SceneGeometry,
    cells: npt.ArrayLike | None = None,
    *,
    out: np.ndarray | None = None,
    fill_value: float = 0,
) -> np.ndarray:
    """Crop predicted patches to their cores and place them in a scene-sized array.

    Parameters
    ----------
    patches:
        ``(n, patch, patch)`` or ``(n, patch, patch, channels)`` predictions, patch ``i``
        belonging to ``cells[i]``.
    cells:
        ``(n, 2)`` ``(row, col)`` pairs in any order (no repeats), a boolean ``grid_shape``
        selection, or ``None`` for every cell in row-major order.
    out:
        Scene-sized output to write into, ``(height, width)`` or ``(height, width,
        channels)`` like ``patches``; pixels of cells not in ``cells`` keep their values
        (e.g. a mask already filled from the coarse classes). Allocated and filled with
        ``fill_value`` if ``None``.

    Returns
    -------
    numpy.ndarray
        ``out``, with the pixels of ``cells`` written.
    """
    if not isinstance(patches, np.ndarray) or patches.ndim not in (3, 4):
        got = patches.shape if isinstance(patches, np.ndarray) else type(patches).__name__
        raise InputArrayError(
            f"patches must be a numpy array (n, patch, patch) or (n, patch, patch, channels), "
            f"got {got}"
        )
    p = geometry.patch
    if patches.shape[1:3] != (p, p):
        raise InputArrayError(
            f"patches must be {p} x {p} (the geometry's patch size), got shape {patches.shape}"
        )
    cell_arr = geometry.cells() if cells is None else geometry.check_cells(cells)
    if cell_arr.shape[0] != patches.shape[0]:
        raise InputArrayError(
            f"got {patches.shape[0]} patches for {cell_arr.shape[0]} cells; they must pair up"
        )
    out_shape = geometry.scene_shape + patches.shape[3:]
    if out is None and cell_arr.shape[0] == geometry.n_cells:
        out = np.empty(out_shape, dtype=patches.dtype)  # every pixel is about to be written
    elif out is None:
        out = np.full(out_shape, fill_value, dtype=patches.dtype)
    elif out.shape != out_shape or out.dtype != patches.dtype:
        raise InputArrayError(
            f"out must be a {patches.dtype} array of shape {out_shape} (like the patches), got "
            f"{out.dtype} {out.shape}; threshold or cast the patches first"
        )
    if cell_arr.shape[0]:
        _reassemble_kernel(patches, cell_arr, geometry.core, geometry.margin, out)
    return out
