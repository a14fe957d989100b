"""A product as the engine reads it: a scene source whose values are reflectance units.

:class:`ProductSource` reads a :class:`~cascade.io.products.base.Product`'s band files
through :class:`cascade.io.raster.RasterSource` (coarser bands resampled onto the finest
grid, No Data DN kept out of the resampling) and returns, per band, ``(DN + offset) *
scale / unit`` as float32, where ``unit`` (:attr:`ProductSource.input_scale`) is what one
value is in reflectance: the engine normalises with it instead of the model's scale, so
every model gets what it expects without flags. No Data pixels (the product's rule) are 0
in every band, and 0 is the source's nodata value, as for a digital-number scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cascade.io import raster
from cascade.io.products.base import Product

__all__ = ["ProductSource", "open_product"]


class ProductSource:
    """The engine's view of a product (a :class:`cascade.engine.SceneSource`).

    ``band_names``: the product's band names (``B02``; ``Blue``); ``dtype`` float32;
    ``nodata`` 0; ``input_scale``: reflectance per value; ``crs``, ``transform``: the grid of
    the finest band (the mask's); ``paths``: the product itself (recorded in the outputs).
    """

    def __init__(self, product: Product, source: raster.RasterSource) -> None:
        self.product = product
        self._source = source
        self._factors = [np.float32(b.scale / product.unit) for b in product.bands]
        self._offsets = [np.float32(b.offset) for b in product.bands]
        self._qa = len(product.bands) if product.qa_band is not None else None

    height = property(lambda self: self._source.height)
    width = property(lambda self: self._source.width)
    crs = property(lambda self: self._source.crs)
    transform = property(lambda self: self._source.transform)
    profile = property(lambda self: self._source.profile)
    resampling = property(lambda self: self._source.resampling)

    @property
    def band_names(self) -> tuple[str | None, ...]:
        return self.product.band_names

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    @property
    def nodata(self) -> float:
        return 0.0

    @property
    def input_scale(self) -> float:
        return self.product.unit

    @property
    def paths(self) -> list[Path]:
        return [self.product.path]

    def read(
        self,
        bands: Sequence[int],
        row_start: int,
        row_stop: int,
        col_start: int = 0,
        col_stop: int | None = None,
    ) -> np.ndarray:
        """``(len(bands), rows, cols)`` float32 values (see the module docstring)."""
        wanted = list(bands)
        raw = self._source.read(
            wanted + ([self._qa] if self._qa is not None else []),
            row_start,
            row_stop,
            col_start,
            col_stop,
        )
        dn = raw[: len(wanted)]
        nodata = self._dn_nodata(dn)
        if self._qa is not None:
            nodata |= (raw[-1] >> self.product.qa_fill_bit) & 1 == 1
        return self._values(dn, wanted, nodata)

    def _dn_nodata(self, dn: np.ndarray) -> np.ndarray:
        nodata = np.zeros(dn.shape[1:], dtype=bool)
        if self.product.nodata_value is not None:
            nodata |= (dn == self.product.nodata_value).any(axis=0)
        return nodata

    def _values(self, dn: np.ndarray, wanted: list[int], nodata: np.ndarray) -> np.ndarray:
        out = np.empty(dn.shape, dtype=np.float32)
        for i, b in enumerate(wanted):
            np.add(dn[i], self._offsets[b], out=out[i], dtype=np.float32)
            if self._factors[b] != 1:
                out[i] *= self._factors[b]
        out[:, nodata] = 0.0
        return out

    def overview_factors(self, bands: Sequence[int]) -> list[int]:
        """The overviews of the band files (a Landsat Collection 2 COG's, say): see
        :meth:`cascade.io.raster.RasterSource.overview_factors`."""
        return self._source.overview_factors(list(bands))

    def read_reduced(
        self, bands: Sequence[int], factor: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The bands from their overviews, as :meth:`read` does; No Data by the product's
        value only (an overview of a QA band's bits means nothing; cells the overview shows
        short of data are read again in full, QA band included)."""
        wanted = list(bands)
        dn, _ = self._source.read_reduced(wanted, factor)
        return self._values(dn, wanted, self._dn_nodata(dn)), None

    def read_nodata(
        self, row_start: int, row_stop: int, col_start: int = 0, col_stop: int | None = None
    ) -> np.ndarray | None:
        return None  # No Data pixels are 0 in every band

    def describe(self) -> str:
        return str(self.product.path)

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> ProductSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_product(
    product: Product, *, resampling: str = "bilinear", gdal_cache_mb: int = 256
) -> ProductSource:
    """Open a product's band files (and its QA band) for strip reading."""
    paths = [b.path for b in product.bands]
    if product.qa_band is not None:
        paths.append(product.qa_band)
    source = raster.open_source(
        paths,
        resampling=resampling,
        gdal_cache_mb=gdal_cache_mb,
        nodata=product.nodata_value,
    )
    return ProductSource(product, source)
