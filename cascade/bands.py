"""Band profiles: named band sets with wavelengths, resolutions, sensor aliases and scaling.

A profile says which bands a model or a simulated scene has, in which order, and how raw
digital numbers become top-of-atmosphere (TOA) reflectance, the unit cloud-cascade works in
(float32, about 0..1.5).

- ``sentinel2-l1c-13``: all 13 Sentinel-2 MSI L1C bands, reflectance = DN / 10000. (Products of
  processing baseline 04.00 and later, from 25 January 2022, add 1000 to every DN:
  reflectance = (DN - 1000) / 10000; pass ``offset=-1000`` to :meth:`BandProfile.to_reflectance`.)
- ``sentinel2-l1c-7``: the cascade paper's set, B01, B02, B03, B04, B08, B09, B10.
- ``rgbn``: Blue, Green, Red, NIR, the common subset of Landsat 5/7/8/9, Sentinel-2 and 4-band
  sensors such as CBERS-4A WFI; each band knows its name on those sensors.
- ``landsat8-oli``: OLI bands 1-7 and 9 (reflective), DN scaled by the Collection 1/2 L1 factors
  (2e-5, -0.1) *without* the sun-elevation correction, which needs the scene's metadata.

:func:`match_bands` is the one rule by which bands are found among a scene's: a model's bands
in a scene, a profile's bands in a dataset file, red/green/blue for a quicklook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cascade.errors import BandMismatchError, ConfigError

__all__ = [
    "BAND_PROFILES",
    "Band",
    "BandProfile",
    "band_aliases",
    "get_band_profile",
    "match_bands",
]


@dataclass(frozen=True)
class Band:
    """One spectral band: its canonical name, centre wavelength, resolution and aliases."""

    name: str
    wavelength_nm: float
    resolution_m: float | None = None
    aliases: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        n = name.upper()
        return n == self.name.upper() or n in (a.upper() for a in self.aliases)


@dataclass(frozen=True)
class BandProfile:
    """An ordered set of bands and how their raw values become TOA reflectance."""

    name: str
    bands: tuple[Band, ...]
    scale: float = 1e-4
    offset: float = 0.0
    description: str = ""
    sensors: tuple[str, ...] = field(default=())

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def __len__(self) -> int:
        return len(self.bands)

    def indices_in(self, available: Sequence[str | None], *, source: str = "scene") -> list[int]:
        """Index in ``available`` of each profile band (by :func:`match_bands`), in order."""
        return match_bands(available, self.bands, source=source, what=f"band profile {self.name!r}")

    def to_reflectance(
        self, raw: np.ndarray, *, scale: float | None = None, offset: float | None = None
    ) -> npt.NDArray[np.float32]:
        """``(raw + offset) * scale`` as float32 (the profile's factors unless overridden)."""
        s = self.scale if scale is None else scale
        o = self.offset if offset is None else offset
        return ((raw.astype(np.float32) + np.float32(o)) * np.float32(s)).astype(np.float32)


_S2 = (
    Band("B01", 442.7, 60, ("coastal",)),
    Band("B02", 492.4, 10, ("blue",)),
    Band("B03", 559.8, 10, ("green",)),
    Band("B04", 664.6, 10, ("red",)),
    Band("B05", 704.1, 20, ("rededge1",)),
    Band("B06", 740.5, 20, ("rededge2",)),
    Band("B07", 782.8, 20, ("rededge3",)),
    Band("B08", 832.8, 10, ("nir",)),
    Band("B8A", 864.7, 20, ("nir08", "narrow_nir")),
    Band("B09", 945.1, 60, ("watervapour", "water_vapour")),
    Band("B10", 1373.5, 60, ("cirrus",)),
    Band("B11", 1613.7, 20, ("swir16", "swir1")),
    Band("B12", 2202.4, 20, ("swir22", "swir2")),
)
_S2_BY_NAME = {b.name: b for b in _S2}

BAND_PROFILES: dict[str, BandProfile] = {
    "sentinel2-l1c-13": BandProfile(
        "sentinel2-l1c-13",
        _S2,
        scale=1e-4,
        description="Sentinel-2 MSI L1C, all bands",
        sensors=("sentinel-2",),
    ),
    "sentinel2-l1c-7": BandProfile(
        "sentinel2-l1c-7",
        tuple(_S2_BY_NAME[n] for n in ("B01", "B02", "B03", "B04", "B08", "B09", "B10")),
        scale=1e-4,
        description="Sentinel-2 L1C bands of the cascade paper (1-4 and 8-10)",
        sensors=("sentinel-2",),
    ),
    "rgbn": BandProfile(
        "rgbn",
        (
            # aliases: Sentinel-2, Landsat 8/9 OLI, Landsat 4-7 TM/ETM+ (as "L7_B1"-style and
            # plain), CBERS-4A WFI, and the plain colour names.
            Band("Blue", 485.0, None, ("B02", "blue", "OLI_B2", "TM_B1", "WFI_B13")),
            Band("Green", 560.0, None, ("B03", "green", "OLI_B3", "TM_B2", "WFI_B14")),
            Band("Red", 660.0, None, ("B04", "red", "OLI_B4", "TM_B3", "WFI_B15")),
            Band("NIR", 840.0, None, ("B08", "nir", "OLI_B5", "TM_B4", "WFI_B16")),
        ),
        scale=1.0,
        description="Blue, Green, Red, NIR as TOA reflectance (sensor-independent)",
        sensors=("sentinel-2", "landsat-5", "landsat-7", "landsat-8", "landsat-9", "cbers-4a"),
    ),
    "landsat8-oli": BandProfile(
        "landsat8-oli",
        (
            Band("B1", 443.0, 30, ("coastal",)),
            Band("B2", 482.0, 30, ("blue",)),
            Band("B3", 561.4, 30, ("green",)),
            Band("B4", 654.6, 30, ("red",)),
            Band("B5", 864.7, 30, ("nir",)),
            Band("B6", 1608.9, 30, ("swir1",)),
            Band("B7", 2200.7, 30, ("swir2",)),
            Band("B9", 1373.4, 30, ("cirrus",)),
        ),
        scale=2e-5,
        offset=-5000.0,  # (DN * 2e-5 - 0.1) == (DN - 5000) * 2e-5
        description="Landsat 8/9 OLI reflective bands, L1 DN with the standard rescaling "
        "(no sun-elevation correction)",
        sensors=("landsat-8", "landsat-9"),
    ),
}


def get_band_profile(name: str | BandProfile) -> BandProfile:
    """A profile by name (or the profile itself); an unknown name lists the known ones."""
    if isinstance(name, BandProfile):
        return name
    try:
        return BAND_PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"unknown band profile {name!r}; known: {sorted(BAND_PROFILES)}"
        ) from None


def band_aliases(name: str) -> list[str]:
    """Upper-case aliases of a band name in the band profiles (``"Blue"`` -> ``"B02"``, ...)."""
    out: list[str] = []
    for profile in BAND_PROFILES.values():
        for band in profile.bands:
            if band.name.upper() == name.upper():
                out.extend(a.upper() for a in band.aliases if a.upper() not in out)
    return out


def _candidates(band: str | Band) -> list[str]:
    """Names a wanted band answers to, upper-case, best first: its name, then its aliases."""
    name = band.name if isinstance(band, Band) else str(band)
    own = [a.upper() for a in band.aliases] if isinstance(band, Band) else []
    out = [name.upper()]
    for a in own + band_aliases(name):
        if a not in out:
            out.append(a)
    return out


def match_bands(
    available: Sequence[str | None],
    expected: Sequence[str | Band],
    *,
    source: str = "scene",
    what: str = "the model",
) -> list[int]:
    """Indices into ``available`` of each ``expected`` band, in ``expected``'s order.

    The one band-matching rule: names match case-insensitively, a band's own name first,
    then its sensor aliases (a sensor-independent ``Blue`` also answers to ``B02``,
    ``OLI_B2``, ...; the first of several equal names wins). When ``available`` carries no
    names at all, bands are taken by position if the counts agree. Raises
    :class:`BandMismatchError` saying which bands are missing and which the scene has;
    ``what`` names who needs the bands.
    """
    names = [None if a is None else str(a) for a in available]
    wanted = [b.name if isinstance(b, Band) else str(b) for b in expected]
    if all(n is None or n == "" for n in names):
        if len(names) == len(expected):
            return list(range(len(expected)))
        raise BandMismatchError(
            f"{source} has {len(names)} unnamed band(s) but {what} expects {len(expected)} "
            f"({', '.join(wanted)}); give the bands names (band descriptions) or pass "
            "exactly those bands in that order"
        )
    lookup: dict[str, int] = {}
    for i, n in enumerate(names):
        if n:
            lookup.setdefault(n.upper(), i)
    found: list[int] = []
    missing = []
    for band, name in zip(expected, wanted, strict=True):
        hit = next((lookup[c] for c in _candidates(band) if c in lookup), None)
        if hit is None:
            missing.append(name)
        else:
            found.append(hit)
    if missing:
        raise BandMismatchError(
            f"{source} lacks band(s) {missing} that {what} needs; it has "
            f"{[n for n in names if n]} and {what} expects {wanted}"
        )
    return found
