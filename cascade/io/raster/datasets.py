"""Whole small rasters (dataset files) and georeferencing helpers."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.errors import CRSError, NotGeoreferencedWarning
from rasterio.transform import Affine, from_bounds, from_origin

from cascade.errors import InputError, chained_message
from cascade.io.geotiff import RasterData
from cascade.io.raster._gdal import READ_ERRORS, open_dataset

__all__ = [
    "georef_from_bounds",
    "georef_or_none",
    "read_raster",
    "read_tags",
    "scaled_transform",
    "utm_transform",
]


def scaled_transform(transform: Affine, factor: int) -> Affine:
    """The transform of a grid whose pixels are ``factor x factor`` pixels of ``transform``'s."""
    return transform @ Affine.scale(factor, factor)


def utm_transform(pixel_size: float = 10.0) -> tuple[str, Affine]:
    """A made-up but valid georeferencing (UTM 33N) for generated scenes: ``(crs, transform)``."""
    return "EPSG:32633", from_origin(300000.0, 5000040.0, pixel_size, pixel_size)


def read_raster(path: str | Path, *, band: int | None = None) -> RasterData:
    """Read a whole (small) raster: all bands, or only the 1-based ``band``.

    Plain images without georeferencing are read without a warning (several datasets are
    such images). Raises :class:`InputError` when the file is missing or unreadable.
    """
    p = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        ds = open_dataset(p)
        try:
            data = ds.read() if band is None else ds.read(band)[np.newaxis]
            valid = np.asarray(ds.dataset_mask() != 0)
            transform = georef_or_none(ds.crs, ds.transform)
            return RasterData(
                path=p,
                data=data,
                crs=ds.crs,
                transform=transform,
                valid=valid,
                descriptions=tuple(d if d else None for d in ds.descriptions),
                tags={str(k): str(v) for k, v in ds.tags().items()},
            )
        except READ_ERRORS as exc:
            raise InputError(f"cannot read {p} as a raster: {chained_message(exc)}") from exc
        finally:
            ds.close()


def georef_or_none(crs: Any, transform: Affine) -> Affine | None:
    """``transform``, or None when it is rasterio's identity default of a plain image."""
    return None if crs is None and transform == Affine.identity() else transform


def georef_from_bounds(
    crs: str, bounds: tuple[float, float, float, float], width: int, height: int
) -> tuple[Any, Affine]:
    """``(CRS, transform)`` of a ``width x height`` grid over ``(west, south, east, north)``.

    Raises ``ValueError`` for a CRS that GDAL does not know.
    """
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as exc:
        raise ValueError(str(exc)) from exc
    return parsed, from_bounds(*bounds, width, height)


def read_tags(path: str | Path) -> dict[str, str]:
    """The dataset-level tags of a raster as strings (JSON-valued tags stay JSON text).

    Raises :class:`InputError` when ``path`` is missing or not a readable raster.
    """
    ds = open_dataset(Path(path))
    try:
        return {str(k): str(v) for k, v in ds.tags().items()}
    except READ_ERRORS as exc:
        raise InputError(f"cannot read the tags of {path}: {chained_message(exc)}") from exc
    finally:
        ds.close()
