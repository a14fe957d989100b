"""Ground-truth pooling: a full-resolution pixel mask into the 4-class cell grid.

The pixel mask uses Clear / Cloud / Cloud shadow / No Data (:mod:`cascade.classes`: 0 / 1 /
2 / 255). A cell is classified from the counts of its ``core x core`` pixels; pixels in the
completion padding, outside the scene, count as No Data. Cloud and cloud shadow are both
*unusable* ground and count together (a two-class mask has no shadow, and unusable is
cloud). The paper's rule for cells of pure data, with unusable for its cloud: **Partly
Cloudy** iff ``0 < unusable pixels < all pixels`` (usable and unusable ground mixed),
**Overcast** if every pixel is unusable, **Cloudless** if none is.

How No Data mixes in is a choice (:class:`NodataPolicy`):

``nodata_fraction`` (default 1.0)
    A cell whose No Data share is at least this is **No Data**. At 1.0 only cells without a
    single valid pixel are; lower it to treat mostly-empty edge cells as No Data.
``mixed`` (default ``"ignore"``)
    What decides the other cells that contain some No Data:

    - ``"ignore"``: No Data pixels are left out and the rule is applied to the valid pixels
      (a cell of clear pixels and No Data is Cloudless). The engine then writes the No Data
      pixels from the input's own mask, so the cell needs no fine model.
    - ``"literal"``: the paper's rule read literally over all pixels, No Data counting as
      "not cloud": such a cell is Cloudless if it has no cloud and Partly Cloudy otherwise,
      never Overcast.
    - ``"partly_cloudy"``: any cell mixing data and No Data is Partly Cloudy, so the fine model
      resolves the data edge at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

from cascade.classes import (
    CLEAR,
    CLOUD,
    CLOUDLESS,
    NO_DATA,
    NODATA,
    OVERCAST,
    PARTLY_CLOUDY,
    SHADOW,
)
from cascade.errors import InputArrayError
from cascade.geometry import SceneGeometry
from cascade.kernels._common import check_geometry_matches, njit_parallel

__all__ = ["NodataPolicy", "cell_counts", "classify_cells", "pool_labels"]

MixedNodata = Literal["ignore", "literal", "partly_cloudy"]


@dataclass(frozen=True)
class NodataPolicy:
    """How No Data pixels decide a cell's class; see the module docstring."""

    nodata_fraction: float = 1.0
    mixed: MixedNodata = "ignore"

    def __post_init__(self) -> None:
        if not 0.0 < float(self.nodata_fraction) <= 1.0:
            raise InputArrayError(
                f"nodata_fraction must be in (0, 1], got {self.nodata_fraction!r}"
            )
        if self.mixed not in ("ignore", "literal", "partly_cloudy"):
            raise InputArrayError(
                f"mixed must be 'ignore', 'literal' or 'partly_cloudy', got {self.mixed!r}"
            )


# Column order of cell_counts (the second column: cloud and cloud shadow, unusable ground).
COUNT_CLEAR, COUNT_CLOUD, COUNT_NODATA = 0, 1, 2


@njit_parallel
def _count_kernel(mask: np.ndarray, core: int, counts: np.ndarray, bad: np.ndarray) -> None:
    height, width = mask.shape
    rows, cols = counts.shape[0], counts.shape[1]
    # Parallel over cell rows; each task owns counts[r] and bad[r]. A 256-bin histogram per
    # cell counts every pixel with one increment, whatever its value; the classes are read
    # off it (cloud and shadow together) and everything else is reported as bad input.
    for r in numba.prange(rows):
        hist = np.zeros((cols, 256), dtype=np.int64)
        for y in range(r * core, min((r + 1) * core, height)):
            line = mask[y]
            for c in range(cols):
                h = hist[c]
                for x in range(c * core, min((c + 1) * core, width)):
                    h[line[x]] += 1
        n_bad = 0
        first_bad = -1
        for c in range(cols):
            counts[r, c, 0] = hist[c, CLEAR]
            counts[r, c, 1] = hist[c, CLOUD] + hist[c, SHADOW]
            counts[r, c, 2] = hist[c, NODATA]
            for v in range(256):
                if v != CLEAR and v != CLOUD and v != SHADOW and v != NODATA and hist[c, v] > 0:
                    n_bad += hist[c, v]
                    if first_bad < 0 or v < first_bad:
                        first_bad = v
        bad[r, 0] = n_bad
        bad[r, 1] = first_bad


def check_mask(mask: object, geometry: SceneGeometry) -> np.ndarray:
    """Validate a ``(height, width)`` uint8 pixel mask against ``geometry``."""
    if not isinstance(mask, np.ndarray):
        raise InputArrayError(f"mask must be a numpy array, got {type(mask).__name__}")
    if mask.ndim != 2:
        raise InputArrayError(
            f"mask must have 2 dimensions (height, width), got {mask.ndim} with shape {mask.shape}"
        )
    if mask.size == 0:
        raise InputArrayError(f"mask is empty: shape {mask.shape}")
    if mask.dtype != np.uint8:
        raise InputArrayError(
            f"mask must be uint8 with {CLEAR} clear, {CLOUD} cloud, {SHADOW} cloud shadow, "
            f"{NODATA} no data; got dtype {mask.dtype}; convert with .astype(numpy.uint8) after "
            "mapping your classes"
        )
    check_geometry_matches(mask.shape, geometry.height, geometry.width, "mask")
    return mask


def cell_counts(mask: np.ndarray, geometry: SceneGeometry) -> npt.NDArray[np.int64]:
    """Pixels of each class in each cell's core: ``(rows, cols, 3)`` int64.

    The last axis is (clear, unusable = cloud or cloud shadow, no data); pixels in the
    completion padding count as no data, so every cell sums to ``core ** 2``. Raises for values
    other than 0, 1, 2 and 255.
    """
    mask = check_mask(mask, geometry)
    rows, cols = geometry.grid_shape
    counts = np.zeros((rows, cols, 3), dtype=np.int64)
    bad = np.zeros((rows, 2), dtype=np.int64)
    _count_kernel(mask, geometry.core, counts, bad)
    if bad[:, 0].any():
        first = int(bad[np.argmax(bad[:, 0] > 0), 1])
        raise InputArrayError(
            f"mask holds {int(bad[:, 0].sum())} pixel(s) that are not {CLEAR} (clear), "
            f"{CLOUD} (cloud), {SHADOW} (cloud shadow) or {NODATA} (no data), e.g. {first}; map "
            "your classes to these first"
        )
    counts[..., COUNT_NODATA] += geometry.core**2 - counts.sum(axis=-1)
    return counts


def classify_cells(counts: np.ndarray, policy: NodataPolicy | None = None) -> npt.NDArray[np.uint8]:
    """Cell classes ``(rows, cols)`` uint8 from ``(rows, cols, 3)`` counts, per ``policy``."""
    policy = policy or NodataPolicy()
    counts = np.asarray(counts)
    if counts.ndim != 3 or counts.shape[-1] != 3:
        raise InputArrayError(f"counts must be (rows, cols, 3), got shape {counts.shape}")
    clear = counts[..., COUNT_CLEAR]
    cloud = counts[..., COUNT_CLOUD]
    nodata = counts[..., COUNT_NODATA]
    total = clear + cloud + nodata
    valid = clear + cloud
    out = np.full(clear.shape, PARTLY_CLOUDY, dtype=np.uint8)
    if policy.mixed == "literal":
        out[cloud == 0] = CLOUDLESS
        out[cloud == total] = OVERCAST
    else:
        out[(cloud == 0) & (valid > 0)] = CLOUDLESS
        out[(clear == 0) & (valid > 0)] = OVERCAST
        if policy.mixed == "partly_cloudy":
            out[(nodata > 0) & (valid > 0)] = PARTLY_CLOUDY
    out[(valid == 0) | (nodata >= policy.nodata_fraction * total)] = NO_DATA
    return out


def pool_labels(
    mask: np.ndarray, geometry: SceneGeometry, policy: NodataPolicy | None = None
) -> npt.NDArray[np.uint8]:
    """The 4-class cell grid (``(rows, cols)`` uint8, :mod:`cascade.classes`) of a pixel mask.

    ``mask`` is ``(height, width)`` uint8 with 0 clear, 1 cloud, 2 cloud shadow, 255 no data;
    cloud and shadow both count as unusable.
    """
    return classify_cells(cell_counts(mask, geometry), policy)
