"""Overlapped patch extraction and reassembly.

Extraction cuts each requested cell's ``patch x patch`` margin window out of the scene,
padding on the fly where the window leaves the scene (the same padding as
:func:`cascade.kernels.pad_scene`, without building the padded scene), and returns the patches
channels-last, ``(n, patch, patch, bands)``, the layout the fine model takes.

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
    source_index,
)

__all__ = ["extract_patches", "reassemble_patches"]


@njit_parallel
def _extract_kernel(
    scene: np.ndarray,
    cells: np.ndarray,
    core: int,
    margin: int,
    mode: int,
    fill: np.ndarray,
    out: np.ndarray,
) -> None:
    bands, height, width = scene.shape
    patch = out.shape[1]
    for p in numba.prange(cells.shape[0]):
        row0 = cells[p, 0] * core - margin
        col0 = cells[p, 1] * core - margin
        # Most windows lie inside the scene along the columns: copy them without the index map.
        inside = col0 >= 0 and col0 + patch <= width
        col_src = np.empty(patch, dtype=np.int64)
        for x in range(patch):
            col_src[x] = source_index(col0 + x, width, mode)
        for y in range(patch):
            sr = source_index(row0 + y, height, mode)
            for b in range(bands):
                # One band's row at a time: sequential reads, writes strided by `bands`.
                dst = out[p, y, :, b]
                if sr < 0:
                    dst[:] = fill[b]
                    continue
                src = scene[b, sr]
                if inside:
                    for x in range(patch):
                        dst[x] = src[col0 + x]
                else:
                    for x in range(patch):
                        sc = col_src[x]
                        dst[x] = src[sc] if sc >= 0 else fill[b]


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
        ``(n, 2)`` ``(row, col)`` pairs in any order, or a boolean ``grid_shape`` selection;
        ``None`` for every cell in row-major order. Patch ``i`` is the window of ``cells[i]``.
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
    cell_arr = geometry.cells() if cells is None else geometry.check_cells(cells)
    code = mode_code(mode)
    nodata_params(nodata, scene.dtype)
    fill = fill_values(fill_value if code == CONSTANT else 0, nodata, scene.shape[0], scene.dtype)
    out_dtype = scene.dtype if dtype is None else np.dtype(dtype)
    shape = (cell_arr.shape[0], geometry.patch, geometry.patch, scene.shape[0])
    if out is None:
        out = np.empty(shape, dtype=out_dtype)
    elif out.shape != shape or out.dtype != out_dtype or not out.flags.c_contiguous:
        raise InputArrayError(
            f"out must be a C-contiguous {out_dtype} array of shape {shape}, got "
            f"{out.dtype} {out.shape} (C-contiguous: {out.flags.c_contiguous})"
        )
    if cell_arr.shape[0]:
        _extract_kernel(
            scene, cell_arr, geometry.core, geometry.margin, code, fill.astype(out_dtype), out
        )
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
