"""Area pooling of a scene to the coarse model's resolution, ignoring No Data pixels.

The coarse input has ``stride`` pixels per cell where the scene has ``core``, a ratio that is
usually not an integer (248 / 32 = 7.75). Each coarse pixel is the area-weighted mean of the
scene pixels it covers: a scene pixel straddling the border of two coarse pixels counts in
both with the fraction of its area on each side (``skimage.transform.resize`` with
anti-aliasing blurs instead; ``cv2.INTER_AREA`` does the same as this but knows no nodata).

Exactness: measured in units where a scene pixel is ``stride`` long and a coarse pixel
``core`` long, every overlap is an integer, so the weights are exact integers and the sums are
exact in float64 for integer scenes: pooling a constant image returns exactly the constant,
however the scene is cut into strips.

No Data: a pixel whose bands all equal ``nodata`` has no weight. The completion padding is not
data either: the pooled grid has ``geometry.coarse_shape`` pixels and the part of it outside
the scene gets no weight, which is the same as padding with nodata first. A coarse pixel
without any weight takes ``fill_value``; ``valid_fraction`` tells how much of each coarse
pixel's area was data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from cascade.errors import InputArrayError
from cascade.geometry import SceneGeometry
from cascade.kernels._common import (
    check_geometry_matches,
    check_scene,
    njit_parallel,
    nodata_params,
    pixel_is_nodata,
)

__all__ = ["AreaPooler", "PooledScene", "axis_weights", "pool_area"]


@dataclass(frozen=True)
class PooledScene:
    """Result of area pooling.

    Attributes
    ----------
    values:
        ``(bands, rows * stride, cols * stride)`` float32 area means; ``fill_value`` where a
        coarse pixel holds no data.
    valid_fraction:
        ``(rows * stride, cols * stride)`` float32 in [0, 1]: the part of each coarse pixel's
        area covered by valid scene pixels.
    """

    values: npt.NDArray[np.float32]
    valid_fraction: npt.NDArray[np.float32]


def axis_weights(
    n_in: int, core: int, stride: int, *, scale: int = 1, n_scene: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Integer overlap weights of ``n_in`` input pixels along one axis.

    Returns ``(first, w_first, w_next)``: input pixel ``k`` covers coarse pixel ``first[k]``
    with weight ``w_first[k]`` and coarse pixel ``first[k] + 1`` with ``w_next[k]`` (0 unless
    it straddles their border). An input pixel is ``scale`` scene pixels long (1: the scene
    itself; 4: its 1/4 overview), but ends at the scene's edge ``n_scene`` (default
    ``n_in * scale``): the weights of a pixel sum to ``stride * scale`` (less for a last pixel
    cut by the edge); those of a coarse pixel fully inside the scene sum to ``core``.
    """
    pix = stride * scale
    end = (n_in * scale if n_scene is None else n_scene) * stride
    k = np.arange(n_in, dtype=np.int64)
    start = k * pix
    stop = np.minimum(start + pix, end)
    first = start // core
    border = (first + 1) * core
    w_first = np.minimum(stop, border) - start
    w_next = stop - start - w_first
    return first, w_first, w_next


@njit_parallel
def _accumulate(
    strip: np.ndarray,
    row0: int,
    core: int,
    pix: int,
    end: int,
    nodata_mode: int,
    nodata: float,
    mask: np.ndarray,
    use_mask: bool,
    col_first: np.ndarray,
    col_w_first: np.ndarray,
    col_w_next: np.ndarray,
    sums: np.ndarray,
    weights: np.ndarray,
) -> None:
    bands, h, width = strip.shape
    out_h, out_w = weights.shape
    # Input row k covers [k * pix, min((k + 1) * pix, end)) in units where a coarse pixel is
    # core long (pix = stride for the scene itself, stride * scale for an overview).
    i_lo = (row0 * pix) // core
    i_hi = min(out_h, (min((row0 + h) * pix, end) - 1) // core + 1)
    # Parallel over coarse rows: each writes only its own row of the accumulators.
    for i in numba.prange(i_lo, i_hi):
        valid = np.empty(width, dtype=np.bool_)
        row_w = np.zeros(out_w, dtype=np.float64)
        k_lo = max(row0, (i * core) // pix)
        k_hi = min(row0 + h, ((i + 1) * core + pix - 1) // pix)
        for k in range(k_lo, k_hi):
            wr = min((k + 1) * pix, end, (i + 1) * core) - max(k * pix, i * core)
            if wr <= 0:
                continue
            kk = k - row0
            if use_mask:
                for col in range(width):
                    valid[col] = not mask[kk, col]
            else:
                for col in range(width):
                    valid[col] = not pixel_is_nodata(strip, kk, col, nodata_mode, nodata)
            for col in range(width):
                if valid[col]:
                    j = col_first[col]
                    row_w[j] += wr * col_w_first[col]
                    if col_w_next[col] > 0:
                        row_w[j + 1] += wr * col_w_next[col]
            for b in range(bands):
                acc = sums[b, i]
                for col in range(width):
                    if valid[col]:
                        v = np.float64(strip[b, kk, col]) * wr
                        j = col_first[col]
                        acc[j] += v * col_w_first[col]
                        if col_w_next[col] > 0:
                            acc[j + 1] += v * col_w_next[col]
        for j in range(out_w):
            weights[i, j] += row_w[j]


class AreaPooler:
    """Area pooling fed strip by strip, so that a whole scene never has to be in memory.

    >>> pooler = AreaPooler(geometry, bands=7, nodata=0)           # doctest: +SKIP
    >>> for row in range(0, geometry.height, 1024):                # doctest: +SKIP
    ...     pooler.add(read_rows(row, 1024), row)
    >>> pooled = pooler.result()                                    # doctest: +SKIP

    Strips may have any height and come in any order; every scene row must be added exactly
    once before :meth:`result`. The accumulators take ``(bands + 1) x coarse_shape`` float64
    (about 130 MB for 7 bands at 1440 x 1440).

    ``scale``: the strips are of a reduced version of the scene (an overview), each pixel the
    mean of ``scale x scale`` scene pixels: the image is ``ceil(height / scale) x ceil(width /
    scale)``, its last row and column cut by the scene's edge. ``scale`` may be at most the
    pool ratio (``core / stride``), so that a pixel straddles at most two coarse pixels.
    """

    def __init__(
        self,
        geometry: SceneGeometry,
        bands: int,
        *,
        nodata: float | None = None,
        fill_value: float = 0.0,
        scale: int = 1,
    ) -> None:
        if isinstance(bands, bool) or not isinstance(bands, (int, np.integer)) or bands < 1:
            raise InputArrayError(f"bands must be a positive integer, got {bands!r}")
        if (
            isinstance(scale, bool)
            or not isinstance(scale, (int, np.integer))
            or not 1 <= scale * geometry.stride <= geometry.core
        ):
            raise InputArrayError(
                f"scale must be an integer from 1 to the pool ratio {geometry.pool_ratio:g} "
                f"(scene pixels per input pixel), got {scale!r}"
            )
        self.geometry = geometry
        self.bands = int(bands)
        self.nodata = nodata
        self.fill_value = float(fill_value)
        self.scale = int(scale)
        self.shape = (-(-geometry.height // self.scale), -(-geometry.width // self.scale))
        out_h, out_w = geometry.coarse_shape
        self._sums = np.zeros((self.bands, out_h, out_w), dtype=np.float64)
        self._weights = np.zeros((out_h, out_w), dtype=np.float64)
        self._rows_done = np.zeros(self.shape[0], dtype=np.bool_)
        first, w_first, w_next = axis_weights(
            self.shape[1], geometry.core, geometry.stride, scale=self.scale, n_scene=geometry.width
        )
        self._col_first, self._col_w_first, self._col_w_next = first, w_first, w_next

    @property
    def complete(self) -> bool:
        """Whether every scene row has been added."""
        return bool(self._rows_done.all())

    def add(self, strip: np.ndarray, row_start: int, *, mask: np.ndarray | None = None) -> None:
        """Add rows ``row_start .. row_start + strip.shape[1] - 1`` (of the reduced image when
        ``scale`` > 1).

        ``strip`` is ``(bands, rows, width)`` with the full width (:attr:`shape`). ``mask``, a
        ``(rows, width)`` boolean array True at No Data pixels (e.g. from a GeoTIFF's mask
        band), replaces the nodata-value test for this strip.
        """
        strip = check_scene(strip, "strip")
        g = self.geometry
        height, width = self.shape
        if strip.shape[0] != self.bands or strip.shape[2] != width:
            raise InputArrayError(
                f"strip must be (bands={self.bands}, rows, width={width}), got {strip.shape}"
            )
        row_start = int(row_start)
        row_stop = row_start + strip.shape[1]
        if row_start < 0 or row_stop > height:
            raise InputArrayError(
                f"strip rows {row_start}..{row_stop - 1} fall outside the scene's rows "
                f"0..{height - 1}"
            )
        if self._rows_done[row_start:row_stop].any():
            dup = row_start + int(np.argmax(self._rows_done[row_start:row_stop]))
            raise InputArrayError(f"scene row {dup} was already added; add each row once")
        mode, value = nodata_params(self.nodata, strip.dtype)
        if mask is not None:
            if not isinstance(mask, np.ndarray) or mask.shape != strip.shape[1:]:
                got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
                raise InputArrayError(
                    f"mask must be a boolean array of the strip's (rows, width) "
                    f"{strip.shape[1:]}, got {got}"
                )
            mask_arr = np.ascontiguousarray(mask, dtype=np.bool_)
        else:
            mask_arr = np.zeros((1, 1), dtype=np.bool_)
        _accumulate(
            strip,
            row_start,
            g.core,
            g.stride * self.scale,
            g.height * g.stride,
            mode,
            value,
            mask_arr,
            mask is not None,
            self._col_first,
            self._col_w_first,
            self._col_w_next,
            self._sums,
            self._weights,
        )
        self._rows_done[row_start:row_stop] = True

    def result(self) -> PooledScene:
        """The pooled scene; raises if some scene rows were never added."""
        if not self.complete:
            missing = np.flatnonzero(~self._rows_done)
            raise InputArrayError(
                f"{missing.size} scene row(s) were never added (first: row {missing[0]}); "
                "add every row before asking for the result"
            )
        weights = self._weights
        has = weights > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(has, self._sums / weights, self.fill_value).astype(np.float32)
        core = self.geometry.core
        valid_fraction = (weights / float(core * core)).astype(np.float32)
        return PooledScene(values=values, valid_fraction=valid_fraction)


def pool_area(
    scene: np.ndarray,
    geometry: SceneGeometry,
    *,
    nodata: float | None = None,
    fill_value: float = 0.0,
) -> PooledScene:
    """Area-pool a whole ``(bands, height, width)`` scene to ``geometry.coarse_shape``.

    See the module docstring for the weighting and nodata rules; :class:`AreaPooler` does the
    same strip by strip.
    """
    scene = check_scene(scene)
    check_geometry_matches(scene.shape, geometry.height, geometry.width, "scene")
    pooler = AreaPooler(geometry, scene.shape[0], nodata=nodata, fill_value=fill_value)
    pooler.add(scene, 0)
    return pooler.result()
