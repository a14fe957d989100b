"""Scenes read in strips: :class:`RasterSource` and :func:`open_source`.

A source reads the bands a model needs from one multi-band raster or a set of single-band
files at mixed resolutions (Sentinel-2 style, 10/20/60 m), the coarser ones resampled onto the
finest grid on the fly through GDAL warped VRTs, so the engine never loads a whole scene.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window as RioWindow

from cascade.errors import InputError, chained_message
from cascade.io.names import RASTER_SUFFIXES, band_name_from_path, input_paths, is_remote
from cascade.io.raster._gdal import READ_ERRORS, open_dataset, remote_options

__all__ = ["RasterSource", "open_source", "resampling_names"]

log = logging.getLogger(__name__)


@dataclass
class RasterSource:
    """Strip reader over one multi-band raster or several single-band rasters.

    Attributes: ``height``, ``width`` (the finest grid), ``band_names`` (descriptions of a
    multi-band file, or names from the file names), ``dtype``, ``nodata`` (the nodata value,
    if any), ``profile`` (CRS and transform of the finest grid), ``paths``.
    """

    paths: list[Path | str]  # a remote file is its GDAL path (``/vsicurl/https://...``)
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

    def read(
        self,
        bands: Sequence[int],
        row_start: int,
        row_stop: int,
        col_start: int = 0,
        col_stop: int | None = None,
    ) -> np.ndarray:
        """``(len(bands), rows, cols)``: rows ``row_start:row_stop`` and columns
        ``col_start:col_stop`` (default: all) of the 0-based ``bands``."""
        col_stop = self.width if col_stop is None else col_stop
        window = RioWindow(col_start, row_start, col_stop - col_start, row_stop - row_start)
        out = np.empty((len(bands), row_stop - row_start, col_stop - col_start), self.dtype)
        try:
            if self._one_dataset:
                # One multi-band dataset: a single call, so that each (pixel-interleaved)
                # tile is decompressed once for all bands instead of once per band.
                indexes = [self._readers[b][1] for b in bands]
                self._readers[0][0].read(indexes, window=window, out=out)
            else:
                for i, b in enumerate(bands):
                    reader, index = self._readers[b]
                    reader.read(index, window=window, out=out[i])
        except READ_ERRORS as exc:
            cols = "" if col_stop - col_start == self.width else f", columns {col_start}.."
            cols += f"{col_stop - 1}" if cols else ""
            raise InputError(
                f"cannot read rows {row_start}..{row_stop - 1}{cols} of {self.describe()}: "
                f"{chained_message(exc)}"
            ) from exc
        return out

    def read_nodata(
        self, row_start: int, row_stop: int, col_start: int = 0, col_stop: int | None = None
    ) -> np.ndarray | None:
        """No Data mask of the window from the dataset's mask band, or None to use the value."""
        if self._mask_reader is None:
            return None
        col_stop = self.width if col_stop is None else col_stop
        window = RioWindow(col_start, row_start, col_stop - col_start, row_stop - row_start)
        try:
            return np.asarray(self._mask_reader.dataset_mask(window=window) == 0)
        except READ_ERRORS as exc:
            raise InputError(
                f"cannot read the mask of {self.describe()}: {chained_message(exc)}"
            ) from exc

    @property
    def _one_dataset(self) -> bool:
        return bool(self._readers) and all(r is self._readers[0][0] for r, _ in self._readers)

    def overview_factors(self, bands: Sequence[int]) -> list[int]:
        """The reduction factors (2, 4, 8, ...) at which every one of ``bands`` can be read
        cheaply: the overviews of a GeoTIFF (internal, as in a COG, or an external ``.ovr``)
        or the resolution levels of a JPEG 2000 file. Empty for a band resampled onto the
        grid of another (its overviews are not on the scene's grid)."""
        common: set[int] | None = None
        for b in bands:
            reader, index = self._readers[b]
            if isinstance(reader, WarpedVRT):
                return []
            try:
                factors = set(reader.overviews(index))
            except READ_ERRORS:
                return []
            common = factors if common is None else common & factors
        return sorted(common or ())

    def read_reduced(
        self, bands: Sequence[int], factor: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The scene reduced ``factor`` times from its overview of that factor:
        ``(len(bands), ceil(height / factor), ceil(width / factor))``, and its No Data mask
        from the mask band's overview (None: compare values with ``nodata``)."""
        shape = (-(-self.height // factor), -(-self.width // factor))
        out = np.empty((len(bands), *shape), dtype=self.dtype)
        try:
            if self._one_dataset:
                indexes = [self._readers[b][1] for b in bands]
                self._readers[0][0].read(indexes, out=out, resampling=Resampling.average)
            else:
                for i, b in enumerate(bands):
                    reader, index = self._readers[b]
                    reader.read(index, out=out[i], resampling=Resampling.average)
            mask = None
            if self._mask_reader is not None:
                mask = np.asarray(self._mask_reader.dataset_mask(out_shape=shape) == 0)
        except READ_ERRORS as exc:
            raise InputError(
                f"cannot read the 1/{factor} overview of {self.describe()}: {chained_message(exc)}"
            ) from exc
        return out, mask

    def describe(self) -> str:
        first = str(self.paths[0])
        return first if len(self.paths) == 1 else f"{first.rsplit('/', 1)[0]}/"

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


def _single(path: Path | str) -> RasterSource:
    ds = open_dataset(path)
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


def _band_files(
    paths: list[Path | str], resampling: Resampling, nodata: float | None
) -> RasterSource:
    datasets = [open_dataset(p) for p in paths]
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
    be GDAL virtual paths (``/vsizip/{archive.zip}/member``) and remote files: URLs
    (``https://``, ``s3://``, ``gs://``, ``az://``) or GDAL network paths (``/vsicurl/``,
    ``/vsis3/``, ...), read with :data:`cascade.io.raster._gdal.REMOTE_OPTIONS` (credentials
    come from the environment, as GDAL reads them: ``AWS_ACCESS_KEY_ID``, ...).
    """
    try:
        method = Resampling[resampling]
    except KeyError:
        raise InputError(
            f"unknown resampling {resampling!r}; expected one of {resampling_names()}"
        ) from None
    # Every pixel is read once for pooling and routed rows once more, so a large block cache
    # buys little; GDAL's default (5 % of RAM) would only grow the process by ~1 GB.
    settings: dict[str, Any] = {"GDAL_CACHEMAX": int(gdal_cache_mb) * 2**20}
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if any(is_remote(item) for item in items):
        settings |= remote_options()
    env = rasterio.Env(**settings)
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
    if isinstance(inputs, (str, Path)) and not is_remote(inputs) and Path(inputs).is_dir():
        if not files:
            raise InputError(
                f"folder {inputs} holds no raster files ({', '.join(sorted(RASTER_SUFFIXES))})"
            )
        return _band_files(files, method, nodata)
    if not files:
        raise InputError("no input files given")
    return _single(files[0]) if len(files) == 1 else _band_files(files, method, nodata)


def resampling_names() -> list[str]:
    """The resampling methods :func:`open_source` accepts."""
    return [r.name for r in Resampling]
