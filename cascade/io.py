"""Raster input and output: the only module that imports rasterio.

Inputs are *sources*: objects that read strips of rows of the bands a model needs, so the
engine never loads a whole scene. :class:`RasterSource` reads a multi-band GeoTIFF or a set of
single-band files at mixed resolutions (Sentinel-2 style, 10/20/60 m), the coarser ones
resampled onto the finest grid on the fly through GDAL warped VRTs. Outputs are tiled,
compressed Cloud-Optimized GeoTIFFs written atomically (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window as RioWindow

from cascade._files import atomic_output
from cascade.errors import CascadeError

__all__ = [
    "InputError",
    "RasterSource",
    "band_files_in",
    "has_band_token",
    "is_raster_name",
    "open_source",
    "read_tags",
    "scaled_transform",
    "write_raster",
]

log = logging.getLogger(__name__)

_BAND_TOKEN = re.compile(r"(?:^|[_\-.])(B\d{1,2}A?)$", re.IGNORECASE)
_RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".vrt", ".img"}


class InputError(CascadeError, OSError):
    """An input that cannot be read: missing, corrupt, or inconsistent."""


def _open(path: Path) -> Any:
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    try:
        return rasterio.open(path)
    except RasterioError as exc:
        raise InputError(f"cannot read {path} as a raster: {exc}") from exc


def band_name_from_path(path: Path) -> str:
    """``T33UUP_20200101_B8A.jp2`` -> ``B8A``; a stem without such a token is the name."""
    match = _BAND_TOKEN.search(path.stem)
    return match.group(1).upper() if match else path.stem


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
        except RasterioError as exc:
            raise InputError(
                f"cannot read rows {row_start}..{row_stop - 1} of {self.describe()}: {exc}"
            ) from exc
        return out

    def read_nodata(self, row_start: int, row_stop: int) -> np.ndarray | None:
        """No Data mask of the rows from the dataset's mask band, or None to use the value."""
        if self._mask_reader is None:
            return None
        window = RioWindow(0, row_start, self.width, row_stop - row_start)
        try:
            return np.asarray(self._mask_reader.dataset_mask(window=window) == 0)
        except RasterioError as exc:
            raise InputError(f"cannot read the mask of {self.describe()}: {exc}") from exc

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


def _band_files(paths: list[Path], resampling: Resampling) -> RasterSource:
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
            # Each output pixel takes its value from the band's own grid by `resampling`.
            vrt = WarpedVRT(
                ds,
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
) -> RasterSource:
    """Open a scene for strip reading.

    ``inputs`` is a multi-band raster file, a folder of single-band files (one per band,
    named like ``B01.tif`` or ``..._B01.jp2``), or a list of single-band files. Bands of
    coarser resolution are resampled onto the finest band's grid with ``resampling``
    (a :class:`rasterio.enums.Resampling` name). A scene without a CRS gets a warning.
    While the source is open, GDAL's block cache is limited to ``gdal_cache_mb``.
    """
    try:
        method = Resampling[resampling]
    except KeyError:
        raise InputError(
            f"unknown resampling {resampling!r}; expected one of {[r.name for r in Resampling]}"
        ) from None
    # Every pixel is read once for pooling and routed rows once more, so a large block cache
    # buys little; GDAL's default (5 % of RAM) would only grow the process by ~1 GB.
    env = rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb) * 2**20)
    env.__enter__()
    try:
        source = _open_any(inputs, method)
    except BaseException:
        env.__exit__(None, None, None)
        raise
    source._env = env
    if source.crs is None:
        warnings.warn(
            f"{source.describe()} has no CRS; the mask is written without one",
            UserWarning,
            stacklevel=2,
        )
    return source


def _open_any(inputs: str | Path | Sequence[str | Path], method: Resampling) -> RasterSource:
    if isinstance(inputs, (str, Path)):
        path = Path(inputs)
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.suffix.lower() in _RASTER_SUFFIXES and p.is_file()
            )
            if not files:
                raise InputError(
                    f"folder {path} holds no raster files ({', '.join(sorted(_RASTER_SUFFIXES))})"
                )
            source = _band_files(files, method)
        else:
            source = _single(path)
    else:
        files = [Path(p) for p in inputs]
        if not files:
            raise InputError("no input files given")
        source = _single(files[0]) if len(files) == 1 else _band_files(files, method)
    return source


def scaled_transform(transform: Affine, factor: int) -> Affine:
    """The transform of a grid whose pixels are ``factor x factor`` pixels of ``transform``'s."""
    return transform @ Affine.scale(factor, factor)


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
) -> Path:
    """Write ``(height, width)`` or ``(bands, height, width)`` as a COG, atomically.

    Deflate-compressed 512 x 512 tiles with overviews; ``tags`` values that are not strings
    are stored as JSON.
    """
    arr = array if array.ndim == 3 else array[np.newaxis]
    profile = {
        "driver": "COG",
        "width": arr.shape[2],
        "height": arr.shape[1],
        "count": arr.shape[0],
        "dtype": arr.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
        "blocksize": 512,
        "overview_resampling": overview_resampling,
    }
    if arr.dtype.kind == "f":
        profile["predictor"] = 3
    str_tags = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (tags or {}).items()}
    with atomic_output(path, overwrite=overwrite) as tmp:
        try:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(arr)
                if str_tags:
                    dst.update_tags(**str_tags)
                for i, d in enumerate(descriptions or (), start=1):
                    dst.set_band_description(i, d)
        except RasterioError as exc:
            raise CascadeError(f"cannot write {path}: {exc}") from exc
    return Path(path)


def read_tags(path: str | Path) -> dict[str, str]:
    """The dataset-level tags of a raster as strings (JSON-valued tags stay JSON text).

    Raises :class:`InputError` when ``path`` is missing or not a readable raster.
    """
    ds = _open(Path(path))
    try:
        return {str(k): str(v) for k, v in ds.tags().items()}
    except RasterioError as exc:
        raise InputError(f"cannot read the tags of {path}: {exc}") from exc
    finally:
        ds.close()


def band_files_in(folder: str | Path) -> list[Path]:
    """The raster files :func:`open_source` reads from a folder of band files, in its order."""
    return sorted(
        p for p in Path(folder).iterdir() if p.suffix.lower() in _RASTER_SUFFIXES and p.is_file()
    )


def has_band_token(path: str | Path) -> bool:
    """True when a file name ends in a band token (``B01.tif``, ``..._B8A.jp2``)."""
    return _BAND_TOKEN.search(Path(path).stem) is not None


def is_raster_name(path: str | Path) -> bool:
    """True when a file name has a raster suffix :func:`open_source` looks for in folders."""
    return Path(path).suffix.lower() in _RASTER_SUFFIXES
