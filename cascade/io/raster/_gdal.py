"""rasterio's and GDAL's errors, and opening a dataset with a readable error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rasterio
from rasterio._err import CPLE_BaseError  # GDAL errors; not RasterioError subclasses
from rasterio.errors import RasterioError

from cascade.errors import InputError, chained_message

__all__ = ["READ_ERRORS", "WRITE_ERRORS", "open_dataset"]

# What reading a raster can raise: rasterio's errors and GDAL's (CPLE_*).
READ_ERRORS: tuple[type[BaseException], ...] = (RasterioError, CPLE_BaseError)

# What writing a raster can raise: rasterio's errors, GDAL's (CPLE_*, not RasterioError
# subclasses) and the OS's (disk full).
WRITE_ERRORS: tuple[type[BaseException], ...] = (RasterioError, CPLE_BaseError, OSError)


def open_dataset(path: Path) -> Any:
    if not path.exists() and not str(path).startswith("/vsi"):  # /vsizip/{archive}/member
        raise InputError(f"input {path} does not exist")
    try:
        return rasterio.open(path)
    except READ_ERRORS as exc:
        raise InputError(f"cannot read {path} as a raster: {chained_message(exc)}") from exc
