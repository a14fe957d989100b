"""Raster input and output: the only package of cloud-cascade that imports rasterio.

Inputs are *sources* (:mod:`.source`): objects that read strips of rows of the bands a model
needs, so the engine never loads a whole scene. :class:`RasterSource` reads a multi-band
raster or a set of single-band files at mixed resolutions (Sentinel-2 style, 10/20/60 m), the
coarser ones resampled onto the finest grid on the fly through GDAL warped VRTs. Whole small
rasters (dataset files) are read by :func:`read_raster` (:mod:`.datasets`). Every GeoTIFF is
written by one writer, :func:`raster_writer` (:mod:`.write`; strip by strip, Cloud-Optimized or
plain tiled), atomically or into an :class:`cascade.io.files.OutputSet`; :func:`write_raster`
writes a whole array with it. Errors of rasterio and GDAL become
:class:`~cascade.errors.InputError` or :class:`~cascade.errors.OutputError` with GDAL's own
reason.
"""

from __future__ import annotations

from cascade.errors import InputError
from cascade.io.geotiff import RasterData
from cascade.io.raster.datasets import (
    georef_from_bounds,
    georef_or_none,
    read_raster,
    read_tags,
    scaled_transform,
    utm_transform,
)
from cascade.io.raster.source import RasterSource, open_source, resampling_names
from cascade.io.raster.write import RasterWriter, copy_as_cog, raster_writer, write_raster

__all__ = [
    "InputError",
    "RasterData",
    "RasterSource",
    "RasterWriter",
    "copy_as_cog",
    "georef_from_bounds",
    "georef_or_none",
    "open_source",
    "raster_writer",
    "read_raster",
    "read_tags",
    "resampling_names",
    "scaled_transform",
    "utm_transform",
    "write_raster",
]
