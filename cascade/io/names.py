"""Which files make a scene: raster suffixes and band names in file names (no rasterio)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "RASTER_SUFFIXES",
    "band_files_in",
    "band_name_from_path",
    "has_band_token",
    "input_paths",
    "is_raster_name",
]

_BAND_TOKEN = re.compile(r"(?:^|[_\-.])(B\d{1,2}A?)$", re.IGNORECASE)
RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".vrt", ".img"}


def band_name_from_path(path: Path) -> str:
    """``T33UUP_20200101_B8A.jp2`` -> ``B8A``; a stem without such a token is the name."""
    match = _BAND_TOKEN.search(path.stem)
    return match.group(1).upper() if match else path.stem


def input_paths(inputs: str | Path | Sequence[str | Path]) -> list[Path]:
    """The files :func:`open_source` reads for ``inputs``, in its order (not checked)."""
    if isinstance(inputs, (str, Path)):
        path = Path(inputs)
        return band_files_in(path) if path.is_dir() else [path]
    return [Path(p) for p in inputs]


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
