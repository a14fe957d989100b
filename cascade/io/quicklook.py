"""Quicklook pictures of a mask: natural colour beside the mask over it.

:func:`quicklook` draws the picture from arrays (numpy only); :func:`write_quicklook` reads a
masked scene's red, green and blue bands decimated and writes the PNG.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.classes import CLOUD, NODATA, SHADOW

__all__ = ["decimation", "quicklook", "write_png", "write_quicklook"]

CLOUD_TINT = np.array([255.0, 40.0, 40.0], np.float32)
SHADOW_TINT = np.array([40.0, 80.0, 255.0], np.float32)
ROUTED_OUTLINE = np.array([255.0, 230.0, 0.0], np.float32)


def _stretch(rgb: np.ndarray, valid: np.ndarray) -> npt.NDArray[np.float32]:
    """Reflectance to 0..255 with a 2-98 % stretch shared by the three bands."""
    vals = rgb[:, valid] if valid.any() else rgb.reshape(3, -1)
    lo, hi = np.percentile(vals, [2, 98]) if vals.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1e-6
    out = (rgb.transpose(1, 2, 0) - lo) / (hi - lo) * 255.0
    return np.clip(out, 0, 255).astype(np.float32)


def decimation(height: int, width: int, max_side: int = 1024) -> int:
    """The pixel step that brings the longer side to at most ``max_side``."""
    return max(1, -(-max(height, width) // max_side))


def quicklook(
    rgb: np.ndarray,
    mask: np.ndarray,
    routed: np.ndarray | None = None,
    core: float = 248.0,
) -> npt.NDArray[np.uint8]:
    """Two panels side by side, ``(H, 2 * W + 8, 3)`` uint8.

    ``rgb``: ``(3, H, W)`` red, green, blue (any linear unit, e.g. reflectance); ``mask``:
    ``(H, W)`` 0 clear, 1 cloud, 2 cloud shadow, 255 no data; ``routed``: ``(n, 2)`` grid
    cells the fine model ran on, outlined in yellow on the right panel; ``core``: a cell's
    side in these pixels (248 / step for a picture decimated by ``step``, see
    :func:`decimation`). Left: natural colour; right: cloud tinted red, cloud shadow blue,
    No Data grey.
    """
    if rgb.ndim != 3 or rgb.shape[0] != 3 or rgb.shape[1:] != mask.shape:
        raise ValueError(
            f"quicklook needs rgb (3, H, W) and mask (H, W) of the same H, W; got rgb "
            f"{rgb.shape} and mask {mask.shape}"
        )
    h, w = mask.shape
    base = _stretch(rgb.astype(np.float32), mask != NODATA)
    base[mask == NODATA] = 90.0
    over = base.copy()
    cloud = mask == CLOUD
    over[cloud] = 0.5 * over[cloud] + 0.5 * CLOUD_TINT
    shade = mask == SHADOW
    over[shade] = 0.5 * over[shade] + 0.5 * SHADOW_TINT
    cells = np.asarray(routed if routed is not None else np.zeros((0, 2)), int).reshape(-1, 2)
    for row, col in cells:
        r0, c0 = round(row * core), round(col * core)
        r1, c1 = min(round((row + 1) * core), h), min(round((col + 1) * core), w)
        if r0 >= h or c0 >= w:
            continue
        over[r0:r1, c0] = over[r0:r1, c1 - 1] = ROUTED_OUTLINE
        over[r0, c0:c1] = over[r1 - 1, c0:c1] = ROUTED_OUTLINE
    gap = np.full((h, 8, 3), 255.0, np.float32)
    return np.concatenate([base, gap, over], axis=1).astype(np.uint8)


def write_png(
    path: str | Path, picture: np.ndarray, *, overwrite: bool = False, into: Path | None = None
) -> Path:
    """Write an ``(H, W, 3)`` uint8 picture as a PNG, atomically (``into``: the temporary
    file of an :class:`cascade.io.files.OutputSet` to write instead, which commits it)."""
    from cascade.io.files import atomic_output

    if into is not None:
        _png(path, into, picture)
        return Path(path)
    with atomic_output(Path(path), overwrite=overwrite) as tmp:
        _png(path, tmp, picture)
    return Path(path)


def _png(path: str | Path, into: Path, picture: np.ndarray) -> None:
    import imageio.v3 as iio

    from cascade.errors import OutputError

    try:
        iio.imwrite(into, picture, extension=".png")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_quicklook(
    path: str | Path,
    inputs: str | Path | Sequence[str | Path],
    result: Any,
    model_bands: Sequence[str],
    *,
    resampling: str = "bilinear",
    overwrite: bool = False,
    into: Path | None = None,
) -> Path:
    """The PNG of :func:`quicklook` for a masked scene (``result``: its ``CascadeResult``;
    ``into``: see :func:`write_png`).

    The scene's red, green and blue bands (found among ``model_bands`` by name or alias) are
    read in strips, decimated to at most 1024 pixels a side.
    """
    from cascade.bands import match_bands
    from cascade.io.scene import open_scene

    rgb_in_model = match_bands(model_bands, ["Red", "Green", "Blue"], source="the model")
    mask = result.mask
    step = decimation(*mask.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the engine has warned about the source already
        src = open_scene(inputs, resampling=resampling)
    with src:
        in_source = match_bands(src.band_names, model_bands)
        idx = [in_source[i] for i in rgb_in_model]
        rows = []
        strip = 512 * step
        for r0 in range(0, src.height, strip):
            block = src.read(idx, r0, min(src.height, r0 + strip))
            rows.append(block[:, ::step, ::step].astype(np.float32))
    picture = quicklook(
        np.concatenate(rows, axis=1),
        mask[::step, ::step],
        np.argwhere(result.routed),
        result.geometry.core / step,
    )
    return write_png(path, picture, overwrite=overwrite, into=into)
