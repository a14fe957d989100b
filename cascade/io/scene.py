"""Any input a command takes, opened the one way: a product, else rasters.

``cascade mask``, ``cascade batch``, ``cascade info``, model picking and quicklooks all open
their input through :func:`open_scene`: a product that a registered format recognises
(:mod:`cascade.io.products`) becomes a
:class:`~cascade.io.products.source.ProductSource` (reflectance from its metadata, its No
Data rule), anything else a :class:`~cascade.io.raster.RasterSource` (a multi-band raster,
a folder of band files, a list of files) as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cascade.io.names import input_paths
from cascade.io.products import find_product

__all__ = ["Inputs", "open_scene", "scene_band_names", "scene_inputs"]

Inputs = str | Path | Sequence[str | Path]


def open_scene(inputs: Inputs, *, resampling: str = "bilinear", gdal_cache_mb: int = 256) -> Any:
    """A source for ``inputs`` (a ``ProductSource`` or a ``RasterSource``); close it after."""
    product = find_product(inputs)
    if product is not None:
        from cascade.io.products.source import open_product

        return open_product(product, resampling=resampling, gdal_cache_mb=gdal_cache_mb)
    from cascade.io.raster import open_source

    return open_source(inputs, resampling=resampling, gdal_cache_mb=gdal_cache_mb)


def scene_band_names(inputs: Inputs, *, resampling: str = "bilinear") -> list[str | None]:
    """The band names of ``inputs``: a product's from its metadata, else the rasters'."""
    product = find_product(inputs)
    if product is not None:
        return list(product.band_names)
    import warnings

    from cascade.io.raster import open_source

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the engine warns about the source itself
        src = open_source(
            inputs if isinstance(inputs, (str, Path)) else list(inputs), resampling=resampling
        )
    with src:
        return list(src.band_names)


def scene_inputs(inputs: Inputs) -> list[str]:
    """What a mask records as its inputs: the product itself, else the files read."""
    product = find_product(inputs)
    if product is not None:
        return [str(product.path)]
    return [str(p) for p in input_paths(inputs)]
