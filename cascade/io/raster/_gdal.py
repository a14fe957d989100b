"""rasterio's and GDAL's errors, and opening a dataset with a readable error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import rasterio
from rasterio._err import CPLE_BaseError  # GDAL errors; not RasterioError subclasses
from rasterio.errors import RasterioError

from cascade.errors import InputError, chained_message

__all__ = ["READ_ERRORS", "REMOTE_OPTIONS", "WRITE_ERRORS", "open_dataset", "remote_options"]

# What reading a raster can raise: rasterio's errors and GDAL's (CPLE_*).
READ_ERRORS: tuple[type[BaseException], ...] = (RasterioError, CPLE_BaseError)

# What writing a raster can raise: rasterio's errors, GDAL's (CPLE_*, not RasterioError
# subclasses) and the OS's (disk full).
WRITE_ERRORS: tuple[type[BaseException], ...] = (RasterioError, CPLE_BaseError, OSError)


def open_dataset(path: Path | str) -> Any:
    if not str(path).startswith("/vsi") and not Path(path).exists():  # /vsizip/{archive}/...
        raise InputError(f"input {path} does not exist")
    try:
        return rasterio.open(path)
    except READ_ERRORS as exc:
        raise InputError(f"cannot read {path} as a raster: {chained_message(exc)}") from exc


# GDAL settings for scenes read over the network, suited to the range reads of a
# Cloud-Optimized GeoTIFF; used only when an input is remote, and never over a setting the
# environment already holds (a user's own GDAL_* or VSI_* variable wins).
REMOTE_OPTIONS: dict[str, str] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no listing of the folder of each file
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",  # adjacent tiles in one request
    "GDAL_HTTP_MULTIPLEX": "YES",  # HTTP/2 streams where the server has them
    "VSI_CACHE": "TRUE",  # fetched bytes kept per open file ...
    "VSI_CACHE_SIZE": str(32 * 2**20),  # ... up to 32 MB
    "CPL_VSIL_CURL_CACHE_SIZE": str(64 * 2**20),  # the network block cache, bounded
    "GDAL_HTTP_MAX_RETRY": "3",  # transient errors (429, 5xx) retried
    "GDAL_HTTP_RETRY_DELAY": "1",
}


def remote_options() -> dict[str, str]:
    """:data:`REMOTE_OPTIONS` less those the environment sets itself."""
    return {k: v for k, v in REMOTE_OPTIONS.items() if k not in os.environ}
