"""What the raster module reads and writes, as plain values (no rasterio here).

:func:`geotiff_profile` is the profile of every GeoTIFF cloud-cascade writes (deflate, 512 x
512 tiles; Cloud-Optimized with overviews, or plain tiled); :class:`RasterData` is a whole
small raster read into memory. :mod:`cascade.io.raster` does the reading and writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Layout", "RasterData", "geotiff_profile"]

Layout = Literal["cog", "tiled"]


def geotiff_profile(
    height: int,
    width: int,
    count: int,
    dtype: Any,
    crs: Any,
    transform: Any,
    nodata: float | None,
    layout: Layout = "cog",
    overview_resampling: str = "nearest",
) -> dict[str, Any]:
    """The rasterio profile of a GeoTIFF: ``layout="cog"`` a Cloud-Optimized GeoTIFF with
    overviews (made by GDAL from a temporary copy), ``"tiled"`` a plain tiled one (for large
    rasters written strip by strip, where the copy would cost); floats get predictor 3."""
    dt = np.dtype(dtype)
    profile: dict[str, Any] = {
        "width": width,
        "height": height,
        "count": count,
        "dtype": dt.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    if layout == "cog":
        profile |= {"driver": "COG", "blocksize": 512, "overview_resampling": overview_resampling}
    else:
        profile |= {"driver": "GTiff", "tiled": True, "blockxsize": 512, "blockysize": 512}
    if dt.kind == "f":
        profile["predictor"] = 3
    return profile


@dataclass(frozen=True)
class RasterData:
    """A whole raster read into memory by :func:`cascade.io.raster.read_raster`.

    ``data`` ``(bands, height, width)``; ``crs`` and ``transform`` (None when the file is
    not georeferenced); ``valid`` ``(height, width)`` bool, False where the dataset's mask
    (nodata value or mask band) says No Data; ``descriptions`` the band names (None where
    unnamed); ``tags`` the dataset tags.
    """

    path: Path
    data: np.ndarray
    crs: Any
    transform: Any
    valid: npt.NDArray[np.bool_]
    descriptions: tuple[str | None, ...]
    tags: dict[str, str]

    @property
    def count(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.data.shape[1]), int(self.data.shape[2])
