"""Where the engine reads a scene from: the source protocol and the in-memory source.

A source reads strips of rows of the bands a model needs, so the engine never holds a whole
scene; :class:`cascade.io.raster.RasterSource` reads files, :class:`ArraySource` an array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cascade.errors import InputArrayError
from cascade.kernels import nodata_mask
from cascade.kernels._common import SUPPORTED_DTYPES

__all__ = ["ArraySource", "SceneSource", "check_source", "data_nodata", "strip_nodata"]


class SceneSource(Protocol):
    """What the engine reads a scene through (see :class:`ArraySource`, ``RasterSource``).

    ``read`` returns ``(len(bands), row_stop - row_start, col_stop - col_start)`` for 0-based
    ``bands`` (all columns by default); ``read_nodata`` returns the window's No Data mask when
    the source has an explicit one (a mask band), else None and the engine compares values
    with ``nodata``. A source that can read a reduced version of itself cheaply (overviews)
    also has ``overview_factors(bands)`` and ``read_reduced(bands, factor)``
    (:meth:`cascade.io.raster.RasterSource.read_reduced`), which the coarse stage uses
    (:mod:`cascade.engine.coarse_read`). A source that
    knows what its values are in TOA reflectance (a product read with its metadata,
    :class:`cascade.io.products.source.ProductSource`) also has an ``input_scale``
    attribute, which the engine then normalises with instead of the model's scale.
    """

    @property
    def height(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def band_names(self) -> tuple[str | None, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def nodata(self) -> float | None: ...

    def read(
        self,
        bands: Sequence[int],
        row_start: int,
        row_stop: int,
        col_start: int = 0,
        col_stop: int | None = None,
    ) -> np.ndarray: ...

    def read_nodata(
        self, row_start: int, row_stop: int, col_start: int = 0, col_stop: int | None = None
    ) -> np.ndarray | None: ...


@dataclass
class ArraySource:
    """An in-memory ``(bands, height, width)`` scene as a :class:`SceneSource`."""

    array: np.ndarray
    band_names: tuple[str | None, ...] = ()
    nodata: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.array, np.ndarray) or self.array.ndim != 3:
            got = self.array.shape if isinstance(self.array, np.ndarray) else type(self.array)
            hint = (
                " (for one band use scene[numpy.newaxis])"
                if getattr(self.array, "ndim", 0) == 2
                else ""
            )
            raise InputArrayError(
                f"scene must be a numpy array (bands, height, width), got {got}{hint}"
            )
        if self.array.size == 0:
            raise InputArrayError(f"scene is empty: shape {self.array.shape}")
        if not self.band_names:
            self.band_names = (None,) * self.array.shape[0]
        if len(self.band_names) != self.array.shape[0]:
            raise InputArrayError(
                f"{len(self.band_names)} band names for a scene of {self.array.shape[0]} bands"
            )

    @property
    def height(self) -> int:
        return int(self.array.shape[1])

    @property
    def width(self) -> int:
        return int(self.array.shape[2])

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def read(
        self,
        bands: Sequence[int],
        row_start: int,
        row_stop: int,
        col_start: int = 0,
        col_stop: int | None = None,
    ) -> np.ndarray:
        cols = slice(col_start, col_stop)
        if list(bands) == list(range(self.array.shape[0])):
            return self.array[:, row_start:row_stop, cols]
        return self.array[list(bands), row_start:row_stop, cols]

    def read_nodata(
        self, row_start: int, row_stop: int, col_start: int = 0, col_stop: int | None = None
    ) -> np.ndarray | None:
        return None


def check_source(source: SceneSource) -> None:
    """Raise :class:`InputArrayError` for a dtype the kernels do not take."""
    if np.dtype(source.dtype) not in SUPPORTED_DTYPES:
        raise InputArrayError(
            f"scene has unsupported dtype {source.dtype}; expected one of "
            f"{', '.join(str(d) for d in SUPPORTED_DTYPES)}"
        )


def strip_nodata(
    source: SceneSource,
    strip: np.ndarray,
    r0: int,
    r1: int,
    c0: int = 0,
    c1: int | None = None,
) -> np.ndarray:
    """No Data pixels of a window read at rows ``r0:r1``, columns ``c0:c1`` (default: all);
    raises for non-finite values in pixels that are data (see :func:`data_nodata`)."""
    explicit = source.read_nodata(r0, r1, c0, c1)
    return data_nodata(strip, explicit, source.nodata, r0, c0)


def data_nodata(
    strip: np.ndarray,
    explicit: np.ndarray | None,
    nodata: float | None,
    r0: int,
    c0: int,
    where: str = "",
) -> np.ndarray:
    """No Data pixels of a strip whose top-left pixel is ``(r0, c0)``.

    A pixel is No Data when every band equals the source's ``nodata`` value (NaN and +-inf
    may be that value) or where the ``explicit`` mask (a mask band) says so. Any other pixel
    is data, and a data pixel must be finite in every band: NaN or +-inf there would reach
    the models (one +inf makes the whole coarse input non-finite), so it is refused with its
    position (``where``: what was read, when not the scene itself).
    """
    nd = explicit if explicit is not None else nodata_mask(strip, nodata)
    if strip.dtype.kind == "f":
        finite = np.isfinite(strip)
        bad = ~finite.all(axis=0) & ~nd
        if bad.any():
            raise InputArrayError(_nonfinite_message(strip, finite, bad, r0, c0, where))
    return nd


def _nonfinite_message(
    strip: np.ndarray, finite: np.ndarray, bad: np.ndarray, r0: int, c0: int, where: str
) -> str:
    rows, cols = np.nonzero(bad)
    values = strip[:, bad][~finite[:, bad]]
    kinds = [
        name
        for name, found in (
            ("NaN", np.isnan(values).any()),
            ("+inf", (values == np.inf).any()),
            ("-inf", (values == -np.inf).any()),
        )
        if found
    ]
    band = int(np.flatnonzero(~finite[:, rows[0], cols[0]])[0])
    return (
        f"scene has {'/'.join(kinds)} values in {rows.size} data pixel(s)"
        f"{' of ' + where if where else ''}, first at row {r0 + rows[0]}, column "
        f"{c0 + cols[0]} (band {band + 1}); a data pixel must be finite in every band: declare "
        "the value as nodata (then a pixel is No Data when all its bands hold it) or replace "
        "those values"
    )
