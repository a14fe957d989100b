"""Sentinel-2 MSI Level-1C and Level-2A products in the SAFE format, folder or ``.zip``.

What is read (the public Product Specification Document's layout)::

    S2B_MSIL1C_<date>_N0400_R<orbit>_T<tile>_<date>.SAFE/
      MTD_MSIL1C.xml                        product metadata (MTD_MSIL2A.xml for L2A)
      GRANULE/L1C_T<tile>_.../MTD_TL.xml    granule metadata (sun angles)
      GRANULE/L1C_T<tile>_.../IMG_DATA/T<tile>_<date>_B01.jp2 ... _B12.jp2, _B8A.jp2
      (L2A: IMG_DATA/R10m/..._B02_10m.jp2, R20m/..._B05_20m.jp2, R60m/..._B01_60m.jp2)

Reflectance = ``(DN + offset) / quantification``: ``QUANTIFICATION_VALUE`` (L1C) or
``BOA_QUANTIFICATION_VALUE`` (L2A), 10000; the per-band offset is ``RADIO_ADD_OFFSET``
(L1C) or ``BOA_ADD_OFFSET`` (L2A), -1000 from processing baseline 04.00 (products from 25
January 2022) and absent, i.e. 0, before. A product whose baseline cannot be told and that
lists no offsets is refused. DN 0 (the ``NODATA`` special value) is No Data. The band files
are the ones the metadata lists (``IMAGE_FILE``), else those found under ``GRANULE``; for L2A
each band's finest resolution. The values read are ``DN + offset`` (unit 1/quantification,
1e-4: the L1C digital numbers of the ``sentinel2-l1c-7`` pair, offset removed).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from cascade.bands import get_band_profile
from cascade.errors import InputError
from cascade.io.products.base import Product, ProductBand, ProductFormat
from cascade.io.products.files import ProductFiles

__all__ = ["FORMAT", "detect", "read"]

# band_id of the metadata's offset lists and spectral information, in order.
BAND_IDS = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
)
_RESOLUTION = {b.name: b.resolution_m for b in get_band_profile("sentinel2-l1c-13").bands}
_MTD = re.compile(r"MTD_MSIL(1C|2A)\.xml", re.IGNORECASE)
_MTD_MEMBER = re.compile(r"(?:[^/]+/)?MTD_MSIL(1C|2A)\.xml", re.IGNORECASE)
_ZIP_NAME = re.compile(r"S2[A-D]_MSIL(1C|2A)_.*\.zip", re.IGNORECASE)
_BAND_FILE = re.compile(
    r"GRANULE/(?P<granule>[^/]+)/IMG_DATA/(?:R\d\dm/)?[^/]*_(?P<band>B\d[\dA])(?:_(?P<res>\d\d)m)?"
    r"(?:\.jp2)?",
    re.IGNORECASE,
)
_BASELINE = re.compile(r"(\d{2})\.(\d{2})")
_OFFSETS_FROM = (4, 0)  # the first processing baseline with radiometric offsets


def detect(path: Path) -> bool:
    """A ``.SAFE`` folder (or any folder) with ``MTD_MSIL1C.xml``/``MTD_MSIL2A.xml``, that
    metadata file itself, or a ``.zip`` named like a product or holding such a folder."""
    if path.is_dir():
        return any((path / f"MTD_MSIL{level}.xml").is_file() for level in ("1C", "2A"))
    if not path.is_file():
        return False
    if _MTD.fullmatch(path.name):
        return True
    if path.suffix.lower() != ".zip":
        return False
    if _ZIP_NAME.fullmatch(path.name):
        return True
    try:
        with zipfile.ZipFile(path) as z:
            return any(_MTD_MEMBER.fullmatch(n) for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _elements(root: ET.Element, name: str) -> list[ET.Element]:
    """Every element called ``name``, whatever its namespace (the PSD's roots have one)."""
    return [e for e in root.iter() if _local(e.tag) == name]


def _text(root: ET.Element, name: str) -> str | None:
    found = _elements(root, name)
    return (found[0].text or "").strip() if found else None


def _parse(files: ProductFiles, name: str) -> ET.Element:
    try:
        return ET.fromstring(files.read_text(name))
    except ET.ParseError as exc:
        raise InputError(
            f"{files.describe(name)} is not valid XML ({exc}); the product is damaged: "
            "download it again"
        ) from exc


def _metadata_member(files: ProductFiles) -> str:
    found = [n for n in files.names if _MTD_MEMBER.fullmatch(n)]
    if not found:
        raise InputError(
            f"{files.path} holds no MTD_MSIL1C.xml or MTD_MSIL2A.xml at its top (or in its "
            "top .SAFE folder); a Sentinel-2 product is the .SAFE folder or its .zip as "
            "downloaded. For a folder of band files only, pass the IMG_DATA folder (then "
            "give the scale yourself with --scale)"
        )
    if len(found) > 1:
        raise InputError(f"{files.path} holds several products ({', '.join(found)}); pass one")
    return found[0]


def _number(root: ET.Element, name: str, where: str) -> float:
    text = _text(root, name)
    try:
        value = float(text) if text else float("nan")
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise InputError(
            f"{where} has no valid {name} (found {text!r}); it is needed to compute "
            "reflectance: restore the product's original metadata (download it again)"
        )
    return value


def _baseline(root: ET.Element, name: str) -> tuple[str | None, tuple[str, ...]]:
    """The processing baseline (``"04.00"``) from the metadata, else from the product name."""
    text = _text(root, "PROCESSING_BASELINE") or ""
    if _BASELINE.fullmatch(text):
        return text, ()
    m = re.search(r"_N(\d{2})(\d{2})_", name)
    if m:
        found = f"{m.group(1)}.{m.group(2)}"
        return found, (f"processing baseline {found} taken from the product name",)
    return None, ()


def _offsets(root: ET.Element, level: str, baseline: str | None, where: str) -> dict[str, float]:
    """Per-band offsets added to DN: the metadata's list, else 0 before baseline 04.00."""
    tag = "RADIO_ADD_OFFSET" if level == "1C" else "BOA_ADD_OFFSET"
    listed = _elements(root, tag)
    if listed:
        try:
            return {BAND_IDS[int(e.get("band_id", ""))]: float(e.text or "") for e in listed}
        except (ValueError, IndexError) as exc:
            raise InputError(f"{where} has a malformed {tag} list ({exc})") from exc
    if baseline is None:
        raise InputError(
            f"{where} has no PROCESSING_BASELINE, the product name no _Nxxyy_ baseline, and "
            f"it lists no {tag} values: cannot tell whether the digital numbers carry the "
            "offset of -1000 that products of baseline 04.00 and later (from 25 January "
            "2022) have, so reflectance cannot be computed safely. Restore the product's "
            "original metadata (download it again), or stack its bands yourself and mask "
            "that with --scale"
        )
    m = _BASELINE.fullmatch(baseline)
    if m and (int(m.group(1)), int(m.group(2))) >= _OFFSETS_FROM:
        raise InputError(
            f"{where} says processing baseline {baseline} but lists no {tag} values, which "
            "every product from baseline 04.00 carries; the metadata is incomplete: "
            "download the product again"
        )
    return dict.fromkeys(BAND_IDS, 0.0)


def _nodata_value(root: ET.Element) -> int:
    for special in _elements(root, "Special_Values"):
        if (_text(special, "SPECIAL_VALUE_TEXT") or "").upper() == "NODATA":
            index = _text(special, "SPECIAL_VALUE_INDEX") or "0"
            return int(index) if index.isdigit() else 0
    return 0


def _band_members(files: ProductFiles, root: ET.Element, safe: str) -> dict[str, str]:
    """Band name -> member of the granule's band file (for L2A its finest resolution)."""
    prefix = f"{safe}/" if safe else ""
    listed = [(e.text or "").strip() for e in _elements(root, "IMAGE_FILE")]
    candidates = [prefix + n for n in listed] or files.find(r"GRANULE/.+\.jp2", under=safe)
    chosen: dict[str, tuple[int, str]] = {}
    granules = set()
    for member in candidates:
        m = _BAND_FILE.fullmatch(member[len(prefix) :])
        if m is None:
            continue  # TCI, AOT, WVP, SCL and the like
        granules.add(m.group("granule"))
        band = m.group("band").upper()
        res = int(m.group("res") or _RESOLUTION.get(band) or 0)
        file = member if member.lower().endswith(".jp2") else f"{member}.jp2"
        if band not in chosen or res < chosen[band][0]:
            chosen[band] = (res, file)
    if len(granules) > 1:
        raise InputError(
            f"{files.path} holds {len(granules)} granules ({', '.join(sorted(granules))}); "
            "mask each granule's IMG_DATA folder on its own (cascade mask "
            ".../GRANULE/<granule>/IMG_DATA mask.tif; products of baseline 04.00 and later "
            "then need the offset removed)"
        )
    if not chosen:
        raise InputError(
            f"{files.path} holds no band files (GRANULE/<granule>/IMG_DATA/*_Bxx.jp2) and its "
            "metadata lists none: the product is incomplete; download it again"
        )
    missing = [f for _, f in chosen.values() if not files.has(f)]
    if missing:
        shown = ", ".join(files.describe(f) for f in missing[:4])
        raise InputError(
            f"{files.path} lacks band files its metadata lists ({shown}"
            f"{', ...' if len(missing) > 4 else ''}): the product is incomplete; download "
            "it again"
        )
    return {b: chosen[b][1] for b in BAND_IDS if b in chosen}


def _sun_elevation(files: ProductFiles, band_member: str) -> float | None:
    """90 degrees minus the granule's mean sun zenith angle (``MTD_TL.xml``), if listed."""
    granule = band_member.split("/IMG_DATA/")[0]
    if not files.has(f"{granule}/MTD_TL.xml"):
        return None
    mean = _elements(_parse(files, f"{granule}/MTD_TL.xml"), "Mean_Sun_Angle")
    zenith = _text(mean[0], "ZENITH_ANGLE") if mean else None
    try:
        return round(90.0 - float(zenith), 6) if zenith else None
    except ValueError:
        return None


def read(path: Path) -> Product:
    """Resolve a SAFE folder, its ``.zip`` or its ``MTD_MSIL*.xml`` (see the module doc)."""
    given = path.parent if path.is_file() and _MTD.fullmatch(path.name) else path
    files = ProductFiles.open(given)
    mtd = _metadata_member(files)
    safe, _, mtd_name = mtd.rpartition("/")
    level = "2A" if mtd_name.upper() == "MTD_MSIL2A.XML" else "1C"
    where = files.describe(mtd)
    root = _parse(files, mtd)
    name = (_text(root, "PRODUCT_URI") or Path(safe or files.path.name).name).removesuffix(".SAFE")
    baseline, notes = _baseline(root, name)
    quantification = _number(
        root, "QUANTIFICATION_VALUE" if level == "1C" else "BOA_QUANTIFICATION_VALUE", where
    )
    offsets = _offsets(root, level, baseline, where)
    members = _band_members(files, root, safe)
    unlisted = [b for b in members if b not in offsets]
    if unlisted:
        raise InputError(
            f"{where} lists radiometric offsets for {', '.join(offsets)} but not for "
            f"{', '.join(unlisted)}; the metadata is damaged: download the product again"
        )
    files.check_complete(members.values())
    scale = 1.0 / quantification
    bands = tuple(
        ProductBand(
            band, band, files.gdal_path(m), offsets.get(band, 0.0), scale, _RESOLUTION[band]
        )
        for band, m in members.items()
    )
    mission = _text(root, "SPACECRAFT_NAME") or f"Sentinel-{name[1:3]}"
    l1c = name.replace("MSIL2A", "MSIL1C")
    return Product(
        path=files.path,
        format=FORMAT.name,
        name=name,
        mission=mission,
        sensor="MSI",
        level=f"Level-{level}",
        reflectance="TOA" if level == "1C" else "BOA",
        bands=bands,
        unit=scale,
        nodata_value=_nodata_value(root),
        processing_baseline=baseline,
        sun_elevation=_sun_elevation(files, next(iter(members.values()))),
        metadata_file=mtd,
        toa_alternative=f"Mask the Level-1C product of this granule ({l1c[:26]}...) where you can.",
        notes=notes,
    )


FORMAT = ProductFormat(
    name="sentinel2-safe",
    description="Sentinel-2 MSI Level-1C / Level-2A SAFE (folder, .zip or MTD_MSIL*.xml)",
    detect=detect,
    read=read,
)
