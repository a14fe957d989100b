"""Raster input and output: the only module of cloud-cascade that imports rasterio.

Inputs are *sources*: objects that read strips of rows of the bands a model needs, so the
engine never loads a whole scene. :class:`RasterSource` reads a multi-band GeoTIFF or a set of
single-band files at mixed resolutions (Sentinel-2 style, 10/20/60 m), the coarser ones
resampled onto the finest grid on the fly through GDAL warped VRTs. Whole small rasters
(dataset files) are read by :func:`read_raster`. Every GeoTIFF is written by one writer,
:func:`raster_writer` (strip by strip; Cloud-Optimized or plain tiled), atomically or into an
:class:`cascade.io.files.OutputSet`; :func:`write_raster` writes a whole array with it. Errors
of rasterio and GDAL become :class:`~cascade.errors.InputError` or
:class:`~cascade.errors.OutputError` with GDAL's own reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError  # GDAL errors; not RasterioError subclasses
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine, from_bounds, from_origin
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window as RioWindow

from cascade.errors import InputError, OutputError, chained_message
from cascade.io.files import atomic_output
from cascade.io.geotiff import Layout, RasterData, geotiff_profile
from cascade.io.names import RASTER_SUFFIXES, band_name_from_path, input_paths

__all__ = [
    "InputError",
    "RasterData",
    "RasterSource",
    "RasterWriter",
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

log = logging.getLogger(__name__)

# What reading a raster can raise: rasterio's errors and GDAL's (CPLE_*).
READ_ERRORS: tuple[type[BaseException], ...] = (RasterioError, CPLE_BaseError)


def _open(path: Path) -> Any:
    if not path.exists() and not str(path).startswith("/vsi"):  # /vsizip/{archive}/member
        raise InputError(f"input {path} does not exist")
    try:
        return rasterio.open(path)
    except READ_ERRORS as exc:
        raise InputError(f"cannot read {path} as a raster: {chained_message(exc)}") from exc


@dataclass
class RasterSource:
    """Strip reader over one multi-band raster or several single-band rasters.

    Attributes: ``height``, ``width`` (the finest grid), ``band_names`` (descriptions of a
    multi-band file, or names from the file names), ``dtype``, ``nodata`` (the nodata value,
    if any), ``profile`` (CRS and transform of the finest grid), ``paths``.
    """

    paths: list[Path]
    height: int
    width: int
    band_names: tuple[str | None, ...]
    dtype: np.dtype
    nodata: float | None
    crs: Any
    transform: Affine
    _readers: list[tuple[Any, int]] = field(repr=False)  # (dataset or VRT, 1-based band)
    _mask_reader: Any = field(default=None, repr=False)
    _to_close: list[Any] = field(default_factory=list, repr=False)
    _env: Any = field(default=None, repr=False)
    resampling: str | None = None  # how coarser band files are resampled (recorded)

    def read(self, bands: Sequence[int], row_start: int, row_stop: int) -> np.ndarray:
        """Rows ``row_start:row_stop`` of the 0-based ``bands``: ``(len(bands), rows, width)``."""
        window = RioWindow(0, row_start, self.width, row_stop - row_start)
        out = np.empty((len(bands), row_stop - row_start, self.width), dtype=self.dtype)
        try:
            if self._readers and all(r is self._readers[0][0] for r, _ in self._readers):
                # One multi-band dataset: a single call, so that each (pixel-interleaved)
                # tile is decompressed once for all bands instead of once per band.
                indexes = [self._readers[b][1] for b in bands]
                self._readers[0][0].read(indexes, window=window, out=out)
            else:
                for i, b in enumerate(bands):
                    reader, index = self._readers[b]
                    reader.read(index, window=window, out=out[i])
        except READ_ERRORS as exc:
            raise InputError(
                f"cannot read rows {row_start}..{row_stop - 1} of {self.describe()}: "
                f"{chained_message(exc)}"
            ) from exc
        return out

    def read_nodata(self, row_start: int, row_stop: int) -> np.ndarray | None:
        """No Data mask of the rows from the dataset's mask band, or None to use the value."""
        if self._mask_reader is None:
            return None
        window = RioWindow(0, row_start, self.width, row_stop - row_start)
        try:
            return np.asarray(self._mask_reader.dataset_mask(window=window) == 0)
        except READ_ERRORS as exc:
            raise InputError(
                f"cannot read the mask of {self.describe()}: {chained_message(exc)}"
            ) from exc

    def describe(self) -> str:
        return str(self.paths[0]) if len(self.paths) == 1 else f"{self.paths[0].parent}/"

    @property
    def profile(self) -> dict[str, Any]:
        return {
            "crs": self.crs,
            "transform": self.transform,
            "height": self.height,
            "width": self.width,
        }

    def close(self) -> None:
        for ds in reversed(self._to_close):
            with contextlib.suppress(Exception):
                ds.close()
        self._to_close.clear()
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None

    def __enter__(self) -> RasterSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _single(path: Path) -> RasterSource:
    ds = _open(path)
    dtypes = set(ds.dtypes)
    if len(dtypes) != 1:
        ds.close()
        raise InputError(f"{path} mixes band dtypes {sorted(dtypes)}; expected one dtype")
    flags = ds.mask_flag_enums[0] if ds.count else ()
    uses_mask = ds.nodata is None and any(f.name in ("per_dataset", "alpha") for f in flags)
    names = tuple(d if d else None for d in ds.descriptions)
    return RasterSource(
        paths=[path],
        height=ds.height,
        width=ds.width,
        band_names=names,
        dtype=np.dtype(ds.dtypes[0]),
        nodata=ds.nodata,
        crs=ds.crs,
        transform=ds.transform,
        _readers=[(ds, i + 1) for i in range(ds.count)],
        _mask_reader=ds if uses_mask else None,
        _to_close=[ds],
    )


def _band_files(paths: list[Path], resampling: Resampling, nodata: float | None) -> RasterSource:
    datasets = [_open(p) for p in paths]
    opened: list[Any] = list(datasets)
    try:
        for p, ds in zip(paths, datasets, strict=True):
            if ds.count != 1:
                raise InputError(
                    f"{p} has {ds.count} bands; a folder of band files needs one band per file"
                )
        ref = min(datasets, key=lambda d: abs(d.res[0] * d.res[1]))
        crs_set = {str(d.crs) for d in datasets}
        if len(crs_set) > 1:
            raise InputError(f"band files are in different CRSs {sorted(crs_set)}; reproject them")
        dtypes = {d.dtypes[0] for d in datasets}
        dtype = np.result_type(*[np.dtype(t) for t in dtypes])
        readers = []
        for ds in datasets:
            if ds.transform == ref.transform and ds.shape == ref.shape:
                readers.append((ds, 1))
                continue
            # Each output pixel takes its value from the band's own grid by `resampling`,
            # ignoring No Data pixels of the band (its own value, else the caller's).
            src_nodata = ds.nodata if ds.nodata is not None else nodata
            vrt = WarpedVRT(
                ds,
                src_nodata=src_nodata,
                nodata=src_nodata,
                crs=ref.crs,
                transform=ref.transform,
                width=ref.width,
                height=ref.height,
                resampling=resampling,
            )
            opened.append(vrt)
            readers.append((vrt, 1))
        nodatas = {d.nodata for d in datasets}
        nodata = nodatas.pop() if len(nodatas) == 1 else None
        if nodata is None and len({d.nodata for d in datasets}) > 1:
            log.warning(
                "band files disagree on nodata (%s); ignoring nodata",
                sorted(str(d.nodata) for d in datasets),
            )
    except BaseException:
        for ds in reversed(opened):
            ds.close()
        raise
    return RasterSource(
        paths=list(paths),
        height=ref.height,
        width=ref.width,
        band_names=tuple(band_name_from_path(p) for p in paths),
        dtype=np.dtype(dtype),
        nodata=nodata,
        crs=ref.crs,
        transform=ref.transform,
        _readers=readers,
        _to_close=opened,
    )


def open_source(
    inputs: str | Path | Sequence[str | Path],
    *,
    resampling: str = "bilinear",
    gdal_cache_mb: int = 256,
    nodata: float | None = None,
) -> RasterSource:
    """Open a scene for strip reading.

    ``inputs`` is a multi-band raster file, a folder of single-band files (one per band,
    named like ``B01.tif`` or ``..._B01.jp2``), or a list of single-band files. Bands of
    coarser resolution are resampled onto the finest band's grid with ``resampling``
    (a :class:`rasterio.enums.Resampling` name). A scene without a CRS gets a warning.
    While the source is open, GDAL's block cache is limited to ``gdal_cache_mb``. ``nodata``:
    the No Data value of band files that declare none (kept out of the resampling). Paths may
    be GDAL virtual paths (``/vsizip/{archive.zip}/member``).
    """
    try:
        method = Resampling[resampling]
    except KeyError:
        raise InputError(
            f"unknown resampling {resampling!r}; expected one of {resampling_names()}"
        ) from None
    # Every pixel is read once for pooling and routed rows once more, so a large block cache
    # buys little; GDAL's default (5 % of RAM) would only grow the process by ~1 GB.
    env = rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb) * 2**20)
    env.__enter__()
    try:
        source = _open_any(inputs, method, nodata)
    except BaseException:
        env.__exit__(None, None, None)
        raise
    source._env = env
    source.resampling = resampling
    if source.crs is None:
        warnings.warn(
            f"{source.describe()} has no CRS; the mask is written without one",
            UserWarning,
            stacklevel=2,
        )
    return source


def _open_any(
    inputs: str | Path | Sequence[str | Path], method: Resampling, nodata: float | None
) -> RasterSource:
    files = input_paths(inputs)
    if isinstance(inputs, (str, Path)) and Path(inputs).is_dir():
        if not files:
            raise InputError(
                f"folder {inputs} holds no raster files ({', '.join(sorted(RASTER_SUFFIXES))})"
            )
        return _band_files(files, method, nodata)
    if not files:
        raise InputError("no input files given")
    return _single(files[0]) if len(files) == 1 else _band_files(files, method, nodata)


def scaled_transform(transform: Affine, factor: int) -> Affine:
    """The transform of a grid whose pixels are ``factor x factor`` pixels of ``transform``'s."""
    return transform @ Affine.scale(factor, factor)


# What writing a raster can raise: rasterio's errors, GDAL's (CPLE_*, not RasterioError
# subclasses) and the OS's (disk full).
WRITE_ERRORS: tuple[type[BaseException], ...] = (RasterioError, CPLE_BaseError, OSError)


def utm_transform(pixel_size: float = 10.0) -> tuple[str, Affine]:
    """A made-up but valid georeferencing (UTM 33N) for generated scenes: ``(crs, transform)``."""
    return "EPSG:32633", from_origin(300000.0, 5000040.0, pixel_size, pixel_size)


def resampling_names() -> list[str]:
    """The resampling methods :func:`open_source` accepts."""
    return [r.name for r in Resampling]


def read_raster(path: str | Path, *, band: int | None = None) -> RasterData:
    """Read a whole (small) raster: all bands, or only the 1-based ``band``.

    Plain images without georeferencing are read without a warning (several datasets are
    such images). Raises :class:`InputError` when the file is missing or unreadable.
    """
    p = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        ds = _open(p)
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
    ds = _open(Path(path))
    try:
        return {str(k): str(v) for k, v in ds.tags().items()}
    except READ_ERRORS as exc:
        raise InputError(f"cannot read the tags of {path}: {chained_message(exc)}") from exc
    finally:
        ds.close()


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
