"""What every dataset reader shares: :class:`LabelledScene` and the checks of files and arrays.

Readers read rasters through :mod:`cascade.io.raster` (the only package that imports rasterio).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.errors import DatasetError, InputError
from cascade.io.raster import RasterData, read_raster

__all__ = ["LABEL_KINDS", "DatasetError", "LabelKind", "LabelledScene"]

LabelKind = Literal["human", "algorithm", "reference"]
LABEL_KINDS = ("human", "algorithm", "reference")


@dataclass
class LabelledScene:
    """One scene of a dataset: reflectance bands, their names, and an optional mask.

    Attributes
    ----------
    bands
        ``(n_bands, height, width)`` float32 TOA reflectance, about 0..1.5.
    band_names
        Canonical band names (those of :mod:`cascade.bands` profiles), in the order of ``bands``.
    mask
        ``(height, width)`` uint8: 0 clear, 1 cloud, 255 no data (and 2 cloud shadow from
        readers asked for it, ``shadow=True``); None for unlabelled data.
    profile
        ``crs`` and ``transform`` (None when the data is not georeferenced), ``source`` (the
        file or folder read), ``label_kind`` (``"human"``, ``"algorithm"``, ``"reference"``
        or None) and reader-specific extras.
    name
        The scene's id (a 38-Cloud scene id, a file stem, a date).
    """

    bands: npt.NDArray[np.float32]
    band_names: tuple[str, ...]
    mask: npt.NDArray[np.uint8] | None
    profile: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        # Readers build these, but a wrong shape here would surface far away (in a metric or a
        # training batch), so the form is checked once, where it is made.
        b = self.bands
        if not isinstance(b, np.ndarray) or b.ndim != 3 or b.dtype != np.float32:
            got = f"{b.dtype} array of shape {b.shape}" if isinstance(b, np.ndarray) else type(b)
            raise DatasetError(
                f"scene {self.name!r}: bands is a {got}; expected a float32 array "
                "(bands, height, width); convert with .astype(np.float32) and band-first axes"
            )
        self.band_names = tuple(self.band_names)
        if len(self.band_names) != b.shape[0]:
            raise DatasetError(
                f"scene {self.name!r}: {len(self.band_names)} band names for {b.shape[0]} bands; "
                "give one name per band"
            )
        if self.mask is not None:
            m = self.mask
            if m.shape != b.shape[1:] or m.dtype != np.uint8:
                raise DatasetError(
                    f"scene {self.name!r}: mask is a {m.dtype} array of shape {m.shape}; "
                    f"expected uint8 of shape {b.shape[1:]} (the bands' height and width)"
                )
            bad = np.setdiff1d(np.unique(m), [CLEAR, CLOUD, SHADOW, NODATA])
            if bad.size:
                raise DatasetError(
                    f"scene {self.name!r}: mask holds values {bad.tolist()}; expected only "
                    f"{CLEAR} (clear), {CLOUD} (cloud), {SHADOW} (cloud shadow) and {NODATA} "
                    "(no data)"
                )
        for key in ("crs", "transform", "source", "label_kind"):
            self.profile.setdefault(key, None)

    @property
    def height(self) -> int:
        return int(self.bands.shape[1])

    @property
    def width(self) -> int:
        return int(self.bands.shape[2])

    def cloud_fraction(self) -> float | None:
        """Cloud pixels / labelled (not No Data) pixels; None if unlabelled or all No Data."""
        if self.mask is None:
            return None
        cloud = int(np.count_nonzero(self.mask == CLOUD))
        labelled = int(np.count_nonzero(self.mask != NODATA))
        return cloud / labelled if labelled else None


# --------------------------------------------------------------------------------------------
# Shared helpers


def _require_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise DatasetError(f"{what} {path} does not exist; {fix}")
    return path


def _raster(path: Path) -> RasterData:
    """A whole raster (:func:`cascade.io.raster.read_raster`); read errors as DatasetError."""
    try:
        return read_raster(path)
    except InputError as exc:
        raise DatasetError(f"{exc}; check the file") from exc


def _read_band(path: Path) -> tuple[np.ndarray, Any, Any]:
    """The single band of ``path`` as ``(height, width)``, with its CRS and transform."""
    r = _raster(path)
    if r.count != 1:
        raise DatasetError(f"{path} has {r.count} bands; expected one band per file in this layout")
    return r.data[0], r.crs, r.transform


def _load_npz(path: Path, keys: Sequence[str], what: str) -> dict[str, np.ndarray]:
    _require_file(path, what, f"pass the path of the {what} (.npz)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path} as a .npz archive ({exc}); check the file") from exc
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DatasetError(
            f"{path} lacks arrays {missing} (it holds {sorted(arrays)}); "
            f"expected the {what} with arrays {list(keys)}"
        )
    return arrays


def _check_shape(arr: np.ndarray, expected: tuple[int | None, ...], path: Path, key: str) -> None:
    ok = arr.ndim == len(expected) and all(
        e is None or e == s for e, s in zip(expected, arr.shape, strict=True)
    )
    if not ok:
        shape = "x".join("*" if e is None else str(e) for e in expected)
        raise DatasetError(
            f"{path}: array {key!r} has shape {arr.shape}; expected {shape} "
            "(* = any size); is this the right file?"
        )


def _check_values(
    values: np.ndarray, allowed: Iterable[int], path: Path | str, meaning: str
) -> None:
    bad = np.setdiff1d(np.unique(values), np.asarray(list(allowed)))
    if bad.size:
        shown = bad[:20].tolist()
        more = f" and {bad.size - 20} more" if bad.size > 20 else ""
        raise DatasetError(
            f"{path} holds label values {shown}{more}; expected only {meaning}; "
            "check that this is the right label file"
        )


def _as_float32(arr: np.ndarray) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_pair_geometry(
    a: Path,
    a_shape: tuple[int, ...],
    a_transform: Any,
    b: Path,
    b_shape: tuple[int, ...],
    b_transform: Any,
) -> None:
    if tuple(a_shape) != tuple(b_shape):
        raise DatasetError(
            f"{a} is {a_shape[0]} x {a_shape[1]} pixels but {b} is {b_shape[0]} x {b_shape[1]}; "
            "they must cover the same grid (resample or crop one onto the other)"
        )
    if (
        a_transform is not None
        and b_transform is not None
        and not a_transform.almost_equals(b_transform)
    ):
        raise DatasetError(
            f"{a} and {b} have different transforms ({tuple(a_transform)[:6]} vs "
            f"{tuple(b_transform)[:6]}); they must cover the same grid (reproject one)"
        )


RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".vrt", ".img"}
_BAND_TOKEN = re.compile(r"(?:^|[_\-.])(B\d{1,2}A?|BQA)(?=$|[_\-.])", re.IGNORECASE)


def band_token(path: Path) -> str | None:
    """``l8_B1`` -> ``B1``, ``LC8..._B10_toa`` -> ``B10``, ``l8_BQA`` -> ``BQA``."""
    match = _BAND_TOKEN.search(path.stem)
    return match.group(1).upper() if match else None


def band_files(
    inputs: str | Path | Sequence[str | Path], what: str
) -> tuple[Path, dict[str, Path]]:
    """(where, band token -> file) from a folder or a list of files."""
    if isinstance(inputs, (str, Path)):
        root = Path(inputs)
        if not root.is_dir():
            raise DatasetError(f"{what} folder {root} does not exist; pass a folder of band files")
        files = sorted(
            p for p in root.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
        )
    else:
        files = [Path(p) for p in inputs]
        if not files:
            raise DatasetError(f"no {what} files given; pass a folder or a list of band files")
        root = files[0].parent
        for f in files:
            _require_file(f, f"{what} file", "check the list of files")
    found: dict[str, Path] = {}
    for f in files:
        token = band_token(f)
        if token is None:
            continue
        if token in found:
            raise DatasetError(f"two files for band {token}: {found[token]} and {f}; keep one")
        found[token] = f
    return root, found
