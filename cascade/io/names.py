"""Which files make a scene: raster suffixes and band names in file names (no rasterio)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

__all__ = [
    "RASTER_SUFFIXES",
    "band_files_in",
    "band_name_from_path",
    "gdal_path",
    "has_band_token",
    "input_paths",
    "is_raster_name",
    "is_remote",
]

_BAND_TOKEN = re.compile(r"(?:^|[_\-.])(B\d{1,2}A?)$", re.IGNORECASE)
RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".vrt", ".img"}


# URL schemes GDAL reads through its network file systems, and the GDAL prefix of each.
_SCHEMES = {
    "http://": "/vsicurl/",
    "https://": "/vsicurl/",
    "s3://": "/vsis3/",
    "gs://": "/vsigs/",
    "az://": "/vsiaz/",
}
_NETWORK_PREFIXES = ("/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/")


def is_remote(item: str | Path) -> bool:
    """True for a URL (``https://``, ``s3://``, ``gs://``, ``az://``) or a GDAL network path
    (``/vsicurl/``, ``/vsis3/``, ...). Only a ``str`` can be one: a ``Path`` folds ``//``."""
    return isinstance(item, str) and item.startswith((*_SCHEMES, *_NETWORK_PREFIXES))


def gdal_path(item: str) -> str:
    """The path GDAL opens for a URL: ``https://h/x.tif`` -> ``/vsicurl/https://h/x.tif``,
    ``s3://bucket/key`` -> ``/vsis3/bucket/key``; any other string unchanged."""
    for scheme, prefix in _SCHEMES.items():
        if item.startswith(scheme):
            return prefix + (item if prefix == "/vsicurl/" else item[len(scheme) :])
    return item


def band_name_from_path(path: str | Path) -> str:
    """``T33UUP_20200101_B8A.jp2`` -> ``B8A``; a stem without such a token is the name."""
    stem = PurePosixPath(str(path)).stem
    match = _BAND_TOKEN.search(stem)
    return match.group(1).upper() if match else stem


def input_paths(inputs: str | Path | Sequence[str | Path]) -> list[Path | str]:
    """The files :func:`open_source` reads for ``inputs``, in its order (not checked):
    local files as paths, remote ones (:func:`is_remote`) as the GDAL path strings."""
    if isinstance(inputs, (str, Path)):
        if not is_remote(inputs) and Path(inputs).is_dir():
            return list(band_files_in(inputs))
        inputs = [inputs]
    return [gdal_path(str(p)) if is_remote(p) else Path(p) for p in inputs]


def band_files_in(folder: str | Path) -> list[Path]:
    """The raster files :func:`open_source` reads from a folder of band files, in its order."""
    return sorted(
        p for p in Path(folder).iterdir() if p.suffix.lower() in RASTER_SUFFIXES and p.is_file()
    )


def has_band_token(path: str | Path) -> bool:
    """True when a file name ends in a band token (``B01.tif``, ``..._B8A.jp2``)."""
    return _BAND_TOKEN.search(Path(path).stem) is not None


def is_raster_name(path: str | Path) -> bool:
    """True when a file name has a raster suffix :func:`open_source` looks for in folders."""
    return Path(path).suffix.lower() in RASTER_SUFFIXES
