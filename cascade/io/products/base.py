"""What a product is to the engine: band files, reflectance scale and offset, No Data.

A *product* (a Sentinel-2 SAFE, a Landsat Collection 2 scene, ...) resolves to a
:class:`Product`: one :class:`ProductBand` per spectral band (the file GDAL opens, the band's
name as models know it, and how its digital numbers become reflectance), the No Data rule,
and what the metadata said (mission, level, processing baseline, sun elevation). A
:class:`ProductFormat` recognises and reads one kind of product; the registry in
:mod:`cascade.io.products` holds them. No rasterio here: readers parse metadata text and
name files; :mod:`cascade.io.products.source` reads the pixels through
:mod:`cascade.io.raster`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cascade.bands import match_bands
from cascade.errors import BandMismatchError

__all__ = ["Product", "ProductBand", "ProductFormat"]


@dataclass(frozen=True)
class ProductBand:
    """One spectral band of a product.

    ``name``: the band's name as models know it (``B02``, ``Blue``); ``product_band``: as the
    product names it (``B02``, ``B2``); ``path``: what GDAL opens (a file, or a
    ``/vsizip/``/``/vsitar/`` path); reflectance = ``(DN + offset) * scale``.
    """

    name: str
    product_band: str
    path: Path
    offset: float
    scale: float
    resolution_m: float | None = None

    def reflectance(self, dn: np.ndarray) -> npt.NDArray[np.float32]:
        """``(DN + offset) * scale`` as float32 (the formula the source reads with)."""
        return (dn.astype(np.float32) + np.float32(self.offset)) * np.float32(self.scale)


@dataclass(frozen=True)
class Product:
    """A product resolved to bands (see the module docstring).

    ``unit``: what one unit of the values :class:`~cascade.io.products.source.ProductSource`
    returns is in reflectance: a reader whose bands share one scale returns ``DN + offset``
    (Sentinel-2: unit 1e-4, what the ``sentinel2-l1c-7`` pair expects of L1C digital
    numbers), one whose bands differ returns reflectance (unit 1). No Data: a pixel whose DN
    is ``nodata_value`` in any band read, or whose ``qa_band`` has ``qa_fill_bit`` set.
    ``reflectance``: ``TOA`` (Level-1) or ``BOA`` (Level-2, atmospherically corrected).
    ``toa_alternative`` says what to use instead where a model needs top-of-atmosphere data.
    """

    path: Path
    format: str
    name: str
    mission: str
    sensor: str
    level: str
    reflectance: Literal["TOA", "BOA"]
    bands: tuple[ProductBand, ...]
    unit: float
    nodata_value: int | None = 0
    qa_band: Path | None = None
    qa_fill_bit: int = 0
    processing_baseline: str | None = None
    sun_elevation: float | None = None
    metadata_file: str = ""
    toa_alternative: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    @property
    def title(self) -> str:
        """``Sentinel-2A MSI Level-1C product S2A_MSIL1C_...``: for messages."""
        return f"{self.mission} {self.sensor} {self.level} product {self.name}"

    def nodata_rule(self) -> str:
        rules = []
        if self.nodata_value is not None:
            rules.append(f"DN {self.nodata_value} in any band")
        if self.qa_band is not None:
            rules.append(f"bit {self.qa_fill_bit} (fill) of {self.qa_band.name}")
        return " or ".join(rules) or "none"

    def check_model(self, model_bands: Sequence[str], model_name: str) -> None:
        """Raise when the model cannot run on this product, warn when it may do badly.

        A Level-2 (bottom-of-atmosphere) product given to a model that needs bands only the
        Level-1 product has (Sentinel-2 L2A has no B10) is refused with what to do instead;
        a model that can run on it gets a warning: models are trained on TOA reflectance.
        """
        what = f"model pair {model_name!r}"
        try:
            match_bands(self.band_names, model_bands, source=self.title, what=what)
        except BandMismatchError as exc:
            if self.reflectance != "BOA":
                raise
            raise BandMismatchError(
                f"{self.title} is {self.level} (bottom-of-atmosphere reflectance) with bands "
                f"{', '.join(self.band_names)}; {what} needs {', '.join(model_bands)}, bands "
                f"of a top-of-atmosphere (Level-1) product. {self.toa_alternative}"
            ) from exc
        if self.reflectance == "BOA":
            warnings.warn(
                f"{self.title} is {self.level}: bottom-of-atmosphere reflectance, while cloud "
                "models are trained on top-of-atmosphere reflectance, so the mask may be less "
                f"reliable. {self.toa_alternative}",
                UserWarning,
                stacklevel=2,
            )

    def to_dict(self) -> dict[str, Any]:
        """What was recognised, as JSON-ready values (run reports, ``cascade info --json``)."""
        return {
            "path": str(self.path),
            "format": self.format,
            "name": self.name,
            "mission": self.mission,
            "sensor": self.sensor,
            "level": self.level,
            "reflectance": self.reflectance,
            "processing_baseline": self.processing_baseline,
            "sun_elevation": self.sun_elevation,
            "metadata_file": self.metadata_file,
            "unit": self.unit,
            "nodata": self.nodata_rule(),
            "bands": [
                {
                    "name": b.name,
                    "product_band": b.product_band,
                    "offset": b.offset,
                    "scale": b.scale,
                    "resolution_m": b.resolution_m,
                    "path": str(b.path),
                }
                for b in self.bands
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ProductFormat:
    """One kind of product: ``detect(path)`` says cheaply whether a path is one (by names,
    listing an archive at most), ``read(path)`` resolves it to a :class:`Product` or raises
    :class:`~cascade.errors.InputError` saying what is wrong and what to do."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    read: Callable[[Path], Product]
