"""Satellite products as inputs: recognise a product, resolve it to bands, read reflectance.

A user gives what they downloaded (a Sentinel-2 ``.SAFE`` folder or ``.zip``, a Landsat
Collection 2 folder or ``.tar``); each kind is a :class:`ProductFormat` in the registry,
whose ``detect`` recognises it and whose ``read`` resolves it to a :class:`Product` (band
files, reflectance scale and offset per band, No Data rule, metadata).
:class:`cascade.io.products.source.ProductSource` then reads it for the engine. A new format
(HLS, CBERS-4A WFI, PlanetScope) is one module with a ``FORMAT`` passed to
:func:`register_format` (docs/engine.md says how).

Only the standard library and numpy here (no rasterio): detecting and reading metadata is
cheap, and pixels are read through :mod:`cascade.io.raster`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cascade.errors import InputError
from cascade.io.names import is_remote
from cascade.io.products import landsat, sentinel2
from cascade.io.products.base import Product, ProductBand, ProductFormat
from cascade.io.products.files import archive_kind

__all__ = [
    "PRODUCT_FORMATS",
    "Product",
    "ProductBand",
    "ProductFormat",
    "detect_format",
    "find_product",
    "is_product",
    "product_name",
    "read_product",
    "register_format",
]

PRODUCT_FORMATS: dict[str, ProductFormat] = {}


def register_format(fmt: ProductFormat) -> ProductFormat:
    """Add a product format to the registry (tried in registration order); returns it."""
    if fmt.name in PRODUCT_FORMATS:
        raise ValueError(f"product format {fmt.name!r} is registered already")
    PRODUCT_FORMATS[fmt.name] = fmt
    return fmt


register_format(sentinel2.FORMAT)
register_format(landsat.FORMAT)


def detect_format(path: str | Path) -> ProductFormat | None:
    """The registered format that recognises ``path``, or None (for plain rasters)."""
    p = Path(path)
    return next((f for f in PRODUCT_FORMATS.values() if f.detect(p)), None)


def is_product(path: str | Path) -> bool:
    """True when a registered format recognises ``path``."""
    return detect_format(path) is not None


def read_product(path: str | Path) -> Product:
    """Resolve ``path`` to a :class:`Product`; :class:`InputError` when no format knows it."""
    fmt = detect_format(path)
    if fmt is None:
        known = "; ".join(f.description for f in PRODUCT_FORMATS.values())
        raise InputError(
            f"{path} is not a product cloud-cascade recognises (known: {known}). If it is "
            "one, its archive or metadata may be damaged: download it again"
        )
    return fmt.read(Path(os.path.abspath(path)))


def find_product(inputs: str | Path | Sequence[str | Path]) -> Product | None:
    """The product ``inputs`` names, or None when it is a plain raster, band folder or list.

    An archive (``.zip``, ``.tar``) that no format recognises is an :class:`InputError`:
    plain rasters are never archives.
    """
    if not isinstance(inputs, (str, Path)):
        items = list(inputs)
        if len(items) != 1:
            return None
        inputs = items[0]
    if is_remote(inputs):  # products are read from local folders and archives
        return None
    path = Path(inputs)
    if detect_format(path) is not None or archive_kind(path) is not None:
        return read_product(path)
    return None


def product_name(path: str | Path) -> str:
    """What a product's outputs are named after, from its path alone (no reading):
    ``S2A_MSIL1C_...SAFE.zip`` -> ``S2A_MSIL1C_...``; a metadata file -> its folder's name."""
    p = Path(os.path.abspath(path))
    if p.is_file() and not archive_kind(p):
        p = p.parent
    name = p.name
    for suffix in (".zip", ".tar", ".SAFE"):
        if name.upper().endswith(suffix.upper()):
            name = name[: -len(suffix)]
    return name
