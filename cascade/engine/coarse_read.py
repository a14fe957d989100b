"""Step 1 of a run: the coarse model's input, read from full resolution or from an overview.

The coarse model sees the scene area-pooled 7.75 times (``core / stride``). Pooling from full
resolution (``"full"``) decodes every pixel of every band; most real inputs carry a cheaper
version of themselves (the overviews of a Cloud-Optimized GeoTIFF or an external ``.ovr``,
the resolution levels of a JPEG 2000 file), so ``"overview"`` reads the finest overview whose
factor is at most the pool ratio (1/4 of a 10980-pixel scene: 2745 pixels) and area-pools
from there (:class:`cascade.kernels.AreaPooler` with ``scale``); ``"auto"`` (the default)
takes an overview when the source has one and full resolution otherwise.

No Data stays exact where it matters: every cell whose overview shows less valid area than the
cell has inside the scene is read again at full resolution and pooled exactly, so a cell with
valid pixels never becomes No Data because an overview averaged or sampled them away. What the
overview path does not see: No Data pixels too few to show in the overview, in cells that are
not routed (they take the cell's class instead of 255) and non-finite values in such cells
(refused on the full path). Both paths record what they read (:class:`CoarseRead`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cascade.engine.source import SceneSource, data_nodata, strip_nodata
from cascade.errors import InputError
from cascade.geometry import SceneGeometry
from cascade.kernels import AreaPooler, PooledScene

__all__ = ["COARSE_FROM", "CoarseFrom", "CoarseRead", "SceneNodata", "overview_factor", "pool"]

CoarseFrom = Literal["auto", "full", "overview"]
COARSE_FROM: tuple[str, ...] = ("auto", "full", "overview")


class SceneNodata:
    """The scene's No Data pixels as far as they are known: a ``(height, width)`` mask made
    when the first No Data pixel is noted. ``complete``: every pixel has been looked at (the
    full-resolution path); otherwise the fine stage notes what it reads."""

    def __init__(self, shape: tuple[int, int], *, complete: bool) -> None:
        self.shape = shape
        self.complete = complete
        self.mask: npt.NDArray[np.bool_] | None = None

    def note(self, row: int, col: int, nodata: np.ndarray) -> None:
        """Note the No Data mask of the window whose top-left pixel is ``(row, col)``."""
        if self.mask is None:
            if not nodata.any():
                return
            self.mask = np.zeros(self.shape, dtype=bool)
        self.mask[row : row + nodata.shape[0], col : col + nodata.shape[1]] |= nodata

    def window(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray | None:
        return None if self.mask is None else self.mask[r0:r1, c0:c1]


@dataclass
class CoarseRead:
    """What step 1 read: ``source`` ``"full"`` or ``"overview"``, the overview ``factor`` (1
    for full resolution), the cells read again at full resolution for their No Data and the
    band-pixels decoded (``pixels``)."""

    source: str
    factor: int = 1
    exact_cells: int = 0
    pixels: int = 0
    available: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "factor": self.factor,
            "exact_cells": self.exact_cells,
            "pixels_read": self.pixels,
            "overviews_available": list(self.available),
        }


def overview_factor(
    source: SceneSource, band_idx: Sequence[int], g: SceneGeometry, coarse_from: str
) -> tuple[int, list[int]]:
    """``(factor to read at, factors the source offers)``; factor 1 is full resolution."""
    offered = getattr(source, "overview_factors", None)
    available = list(offered(band_idx)) if offered is not None else []
    if coarse_from == "full":
        return 1, available
    usable = [f for f in available if f >= 2 and f * g.stride <= g.core]
    if usable:
        return max(usable), available
    if coarse_from == "overview":
        describe = getattr(source, "describe", None)
        what = describe() if describe is not None else "the scene"
        raise InputError(
            f"--coarse-from overview: {what} has no overview of a factor from 2 to the pool "
            f"ratio {g.pool_ratio:g} (it has {available or 'none'}); add overviews "
            "(gdaladdo -r average FILE 2 4 8 16, or write it as a COG) or use --coarse-from "
            "auto (an overview when there is one) or full"
        )
    return 1, available


def pool(
    source: SceneSource,
    band_idx: list[int],
    g: SceneGeometry,
    strip_rows: int,
    coarse_from: str = "auto",
) -> tuple[PooledScene, SceneNodata, CoarseRead]:
    """The pooled scene, its No Data as known, and what was read (see the module docstring)."""
    factor, available = overview_factor(source, band_idx, g, coarse_from)
    if factor == 1:
        pooled, nodata, pixels = _pool_full(source, band_idx, g, strip_rows)
        return pooled, nodata, CoarseRead("full", 1, 0, pixels, available)
    pooled, nodata, read = _pool_overview(source, band_idx, g, factor)
    read.available = available
    return pooled, nodata, read


def _pool_full(
    source: SceneSource, band_idx: list[int], g: SceneGeometry, strip_rows: int
) -> tuple[PooledScene, SceneNodata, int]:
    pooler = AreaPooler(g, len(band_idx), nodata=source.nodata)
    nodata = SceneNodata(g.scene_shape, complete=True)
    pixels = 0
    for r0 in range(0, g.height, strip_rows):
        r1 = min(g.height, r0 + strip_rows)
        strip = source.read(band_idx, r0, r1)
        pixels += strip.size
        nd = strip_nodata(source, strip, r0, r1)
        pooler.add(strip, r0, mask=nd)
        nodata.note(r0, 0, nd)
    return pooler.result(), nodata, pixels


def _pool_overview(
    source: Any, band_idx: list[int], g: SceneGeometry, factor: int
) -> tuple[PooledScene, SceneNodata, CoarseRead]:
    reduced, explicit = source.read_reduced(band_idx, factor)
    nd = data_nodata(reduced, explicit, source.nodata, 0, 0, f"its 1/{factor} overview")
    pooler = AreaPooler(g, len(band_idx), nodata=source.nodata, scale=factor)
    pooler.add(reduced, 0, mask=nd)
    pooled = pooler.result()
    read = CoarseRead("overview", factor, pixels=reduced.size)
    nodata = SceneNodata(g.scene_shape, complete=False)
    short = _cells_short_of_data(pooled, g)
    for row in np.unique(np.nonzero(short)[0]):
        for c0, c1 in _runs(np.flatnonzero(short[row])):
            read.pixels += _pool_exactly(source, band_idx, g, row, c0, c1, pooled, nodata)
            read.exact_cells += c1 - c0
    return pooled, nodata, read


def inside_share(g: SceneGeometry) -> npt.NDArray[np.float64]:
    """``(rows, cols)``: the share of each cell's core area that lies inside the scene."""
    c = g.core
    h = np.clip(g.height - np.arange(g.rows) * c, 0, c) / c
    w = np.clip(g.width - np.arange(g.cols) * c, 0, c) / c
    return np.outer(h, w)


def _cells_short_of_data(pooled: PooledScene, g: SceneGeometry) -> npt.NDArray[np.bool_]:
    """Cells whose pooled valid area is less than their area inside the scene."""
    s = g.stride
    valid = pooled.valid_fraction.reshape(g.rows, s, g.cols, s).mean(axis=(1, 3), dtype=np.float64)
    return np.asarray(valid < inside_share(g) - 1e-4)


def _runs(cols: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive columns as ``[(start, stop), ...]``."""
    if cols.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(cols) > 1)
    starts = np.concatenate([[cols[0]], cols[breaks + 1]])
    stops = np.concatenate([cols[breaks], [cols[-1]]]) + 1
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def _pool_exactly(
    source: SceneSource,
    band_idx: list[int],
    g: SceneGeometry,
    row: int,
    c0: int,
    c1: int,
    pooled: PooledScene,
    nodata: SceneNodata,
) -> int:
    """Pool cells ``(row, c0:c1)`` from full resolution into ``pooled``; pixels read."""
    c, s = g.core, g.stride
    r_lo, r_hi = row * c, min(g.height, (row + 1) * c)
    x_lo, x_hi = c0 * c, min(g.width, c1 * c)
    strip = source.read(band_idx, r_lo, r_hi, x_lo, x_hi)
    nd = strip_nodata(source, strip, r_lo, r_hi, x_lo, x_hi)
    nodata.note(r_lo, x_lo, nd)
    part = SceneGeometry(r_hi - r_lo, x_hi - x_lo, patch=g.patch, margin=g.margin, stride=s)
    pooler = AreaPooler(part, len(band_idx), nodata=source.nodata)
    pooler.add(strip, 0, mask=nd)
    exact = pooler.result()
    cols = slice(c0 * s, c1 * s)
    pooled.values[:, row * s : (row + 1) * s, cols] = exact.values
    pooled.valid_fraction[row * s : (row + 1) * s, cols] = exact.valid_fraction
    return int(strip.size)
