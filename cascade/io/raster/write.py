"""The one GeoTIFF writer: :func:`raster_writer` (strip by strip) and :func:`write_raster`."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.windows import Window as RioWindow

from cascade.errors import OutputError, chained_message
from cascade.io.files import atomic_output
from cascade.io.geotiff import Layout, geotiff_profile
from cascade.io.raster._gdal import WRITE_ERRORS

__all__ = ["RasterWriter", "copy_as_cog", "raster_writer", "write_raster"]


class RasterWriter:
    """An open GeoTIFF being written (see :func:`raster_writer`): write strips of rows."""

    def __init__(self, dataset: Any, path: Path) -> None:
        self._ds = dataset
        self.path = path

    def write(self, array: np.ndarray, row_start: int = 0) -> None:
        """Write ``(rows, width)`` or ``(bands, rows, width)`` starting at ``row_start``."""
        arr = array if array.ndim == 3 else array[np.newaxis]
        window = RioWindow(0, row_start, arr.shape[2], arr.shape[1])
        try:
            self._ds.write(arr, window=window)
        except WRITE_ERRORS as exc:
            raise OutputError(f"cannot write {self.path}: {chained_message(exc)}") from exc


@contextlib.contextmanager
def _written(
    path: Path, into: Path, profile: dict[str, Any], tags: dict[str, str], descriptions: Any
) -> Iterator[RasterWriter]:
    """Write the GeoTIFF ``into`` (a temporary file); errors name ``path``."""
    try:
        with warnings.catch_warnings():
            if profile.get("crs") is None:  # the reader has warned about the missing CRS
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(into, "w", **profile)
        with dataset as dst:
            if tags:
                dst.update_tags(**tags)
            for i, d in enumerate(descriptions or (), start=1):
                dst.set_band_description(i, d)
            yield RasterWriter(dst, path)
    except OutputError:
        raise
    except WRITE_ERRORS as exc:
        raise OutputError(f"cannot write {path}: {chained_message(exc)}") from exc


@contextlib.contextmanager
def raster_writer(
    path: str | os.PathLike[str],
    *,
    height: int,
    width: int,
    count: int,
    dtype: Any,
    crs: Any,
    transform: Affine,
    nodata: float | None,
    tags: dict[str, Any] | None = None,
    descriptions: Sequence[str] | None = None,
    overwrite: bool = False,
    layout: Layout = "cog",
    overview_resampling: str = "nearest",
    into: Path | None = None,
) -> Iterator[RasterWriter]:
    """The one GeoTIFF writer: deflate-compressed 512 x 512 tiles, written atomically.

    ``layout="cog"``: a Cloud-Optimized GeoTIFF with overviews (made by GDAL when the writer
    closes, from a temporary copy); ``"tiled"``: a plain tiled GeoTIFF, for large rasters
    written strip by strip (simulated scenes) where the copy would cost. ``tags`` values that
    are not strings are stored as JSON; ``descriptions`` name the bands. ``into``: a
    temporary file of an :class:`cascade.io.files.OutputSet` to write instead (that set
    commits it to ``path``); without it the file is written to its own temporary name and
    renamed to ``path`` when complete. Write errors raise :class:`OutputError`.
    """
    profile = geotiff_profile(
        height, width, count, dtype, crs, transform, nodata, layout, overview_resampling
    )
    str_tags = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (tags or {}).items()}
    if into is not None:
        with _written(Path(path), into, profile, str_tags, descriptions) as writer:
            yield writer
        return
    with (
        atomic_output(path, overwrite=overwrite) as tmp,
        _written(Path(path), tmp, profile, str_tags, descriptions) as writer,
    ):
        yield writer


def write_raster(
    path: str | Path,
    array: np.ndarray,
    *,
    crs: Any,
    transform: Affine,
    nodata: float | None,
    tags: dict[str, Any] | None = None,
    descriptions: Sequence[str] | None = None,
    overwrite: bool = False,
    overview_resampling: str = "nearest",
    layout: Layout = "cog",
    into: Path | None = None,
) -> Path:
    """Write ``(height, width)`` or ``(bands, height, width)`` with :func:`raster_writer`
    (``into``: the temporary file of an output set to write to, see there)."""
    arr = array if array.ndim == 3 else array[np.newaxis]
    with raster_writer(
        path,
        height=arr.shape[1],
        width=arr.shape[2],
        count=arr.shape[0],
        dtype=arr.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tags=tags,
        descriptions=descriptions,
        overwrite=overwrite,
        layout=layout,
        overview_resampling=overview_resampling,
        into=into,
    ) as writer:
        writer.write(arr)
    return Path(path)


def copy_as_cog(
    src: str | Path,
    dst: str | Path,
    *,
    overview_resampling: str = "average",
    overwrite: bool = False,
) -> Path:
    """Copy a raster to ``dst`` as a Cloud-Optimized GeoTIFF (deflate, 512 x 512 tiles,
    overviews by ``overview_resampling``), atomically: the cheap input the coarse stage reads
    from its overview (see :mod:`cascade.engine.coarse_read`)."""
    options = {
        "driver": "COG",
        "COMPRESS": "DEFLATE",
        "BLOCKSIZE": "512",
        "OVERVIEW_RESAMPLING": overview_resampling.upper(),
        "NUM_THREADS": "ALL_CPUS",
    }
    with atomic_output(dst, overwrite=overwrite) as tmp:
        try:
            rasterio.shutil.copy(str(src), str(tmp), **options)
        except WRITE_ERRORS as exc:
            raise OutputError(
                f"cannot copy {src} to {dst} as a COG: {chained_message(exc)}"
            ) from exc
    return Path(dst)
