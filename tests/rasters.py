"""Test rasters written with rasterio directly (independent of the code under test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin

# A UTM 18N grid of 10 m pixels, for scenes that need georeferencing.
UTM_CRS = "EPSG:32618"
UTM_TRANSFORM = from_origin(435730.0, 4179460.0, 10.0, 10.0)


def write_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: Any = None,
    transform: Any = None,
    nodata: float | None = None,
    names: tuple[str, ...] | list[str] | None = None,
    block: int | None = None,
    driver: str = "GTiff",
    **options: Any,
) -> Path:
    """Write ``(bands, height, width)`` (or ``(height, width)``) as a GeoTIFF; its path.

    Not georeferenced unless ``crs``/``transform`` are given; ``names`` set the band
    descriptions; ``block`` makes it tiled with square blocks of that side. ``driver`` and
    ``options``: another GDAL driver and its creation options (then ``block`` is unused).
    """
    arr = data if data.ndim == 3 else data[np.newaxis]
    path.parent.mkdir(parents=True, exist_ok=True)
    tiling: dict[str, Any] = (
        {"tiled": True, "blockxsize": block, "blockysize": block}
        if block and driver == "GTiff"
        else {}
    )
    with rasterio.open(
        path,
        "w",
        driver=driver,
        height=arr.shape[1],
        width=arr.shape[2],
        count=arr.shape[0],
        dtype=arr.dtype.name,
        crs=crs,
        transform=transform,
        nodata=nodata,
        **tiling,
        **options,
    ) as dst:
        dst.write(arr)
        for i, n in enumerate(names or (), start=1):
            dst.set_band_description(i, n)
    return path


def write_scene_tif(
    path: Path,
    data: np.ndarray,
    *,
    names: tuple[str, ...] | list[str] | None = None,
    nodata: float | None = 0,
    crs: Any = UTM_CRS,
    transform: Any = UTM_TRANSFORM,
) -> Path:
    """A scene as the engine reads them: georeferenced, tiled (256), 0 as nodata."""
    return write_tif(
        path, data, crs=crs, transform=transform, nodata=nodata, names=names, block=256
    )


def write_cog(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None = 0,
    names: tuple[str, ...] | list[str] | None = None,
    block: int = 256,
    resampling: str = "average",
) -> Path:
    """A scene as a Cloud-Optimized GeoTIFF with overviews (GDAL's COG driver makes them
    until they fit one block) resampled with ``resampling``; georeferenced like
    :func:`write_scene_tif`."""
    options = {"blocksize": block, "compress": "deflate", "overview_resampling": resampling}
    return write_tif(
        path,
        data,
        crs=UTM_CRS,
        transform=UTM_TRANSFORM,
        nodata=nodata,
        names=names,
        driver="COG",
        **options,
    )


def write_jp2(path: Path, data: np.ndarray, *, names: tuple[str, ...] | list[str]) -> Path:
    """A lossless JPEG 2000 scene (GDAL's JP2OpenJPEG), whose resolution levels GDAL reads
    as overviews."""
    return write_tif(
        path,
        data,
        crs=UTM_CRS,
        transform=UTM_TRANSFORM,
        nodata=0,
        names=names,
        driver="JP2OpenJPEG",
        QUALITY=100,
        REVERSIBLE="YES",
    )
