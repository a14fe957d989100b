"""Landsat Collection 2 Level-1 scenes (OLI/TIRS, ETM+, TM): folder or ``.tar`` as delivered.

What is read (USGS Collection 2 Level-1 Data Format Control Book)::

    LC09_L1TP_014032_20231010_20231010_02_T1/      (or the .tar of these files)
      LC09_..._MTL.txt  or  LC09_..._MTL.json      metadata
      LC09_..._B1.TIF ... LC09_..._B11.TIF         bands, uint16 DN
      LC09_..._QA_PIXEL.TIF                        bit 0: fill

TOA reflectance = ``(REFLECTANCE_MULT_BAND_n * DN + REFLECTANCE_ADD_BAND_n) /
sin(SUN_ELEVATION)``, i.e. ``(DN + ADD / MULT) * MULT / sin(elevation)``: the band's offset
and scale. Bands get sensor-independent names by each sensor's numbering (OLI: B2 Blue, B3
Green, B4 Red, B5 NIR, B6 SWIR1, B7 SWIR2, B1 Coastal, B9 Cirrus; TM and ETM+: B1 Blue, B2
Green, B3 Red, B4 NIR, B5 SWIR1, B7 SWIR2); thermal and panchromatic bands are left out.
No Data is where ``QA_PIXEL`` has its fill bit set. The values read are reflectance (unit 1).
"""

from __future__ import annotations

import json
import math
import re
import tarfile
from pathlib import Path

from cascade.errors import InputError
from cascade.io.products.base import Product, ProductBand, ProductFormat
from cascade.io.products.files import ProductFiles, archive_kind

__all__ = ["FORMAT", "SENSOR_BANDS", "detect", "parse_mtl_json", "parse_mtl_txt", "read"]

# Reflective bands per sensor family: band number -> sensor-independent name.
SENSOR_BANDS: dict[str, dict[int, str]] = {
    "OLI": {
        1: "Coastal",
        2: "Blue",
        3: "Green",
        4: "Red",
        5: "NIR",
        6: "SWIR1",
        7: "SWIR2",
        9: "Cirrus",
    },
    "TM": {1: "Blue", 2: "Green", 3: "Red", 4: "NIR", 5: "SWIR1", 7: "SWIR2"},
}
# SENSOR_ID -> (family, how the sensor is called)
_SENSORS = {
    "OLI_TIRS": ("OLI", "OLI/TIRS"),
    "OLI": ("OLI", "OLI"),
    "ETM": ("TM", "ETM+"),
    "TM": ("TM", "TM"),
}
_MTL = re.compile(r"(?:[^/]+/)?[^/]+_MTL\.(txt|json)", re.IGNORECASE)
_TAR_NAME = re.compile(r"L[COTEM]0\d_L\d[A-Z]{2}_.*\.tar", re.IGNORECASE)
_LEVEL1 = ("L1TP", "L1GT", "L1GS")
_REDOWNLOAD = "the product is incomplete: download it again"


def detect(path: Path) -> bool:
    """A folder or ``.tar`` holding a ``*_MTL.txt``/``*_MTL.json``, or that file itself."""
    if path.is_dir():
        return any(_MTL.fullmatch(p.name) for p in path.iterdir())
    if not path.is_file():
        return False
    if _MTL.fullmatch(path.name):
        return True
    if archive_kind(path) != "tar":
        return False
    if _TAR_NAME.fullmatch(path.name):
        return True
    try:
        with tarfile.open(path, "r:") as t:
            return any(_MTL.fullmatch(n) for n in t.getnames())
    except (tarfile.TarError, OSError):
        return False


def parse_mtl_txt(text: str) -> dict[str, str]:
    """``KEY = value`` lines of an ODL ``_MTL.txt``, groups flattened (first key wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key in ("GROUP", "END_GROUP"):
            continue
        out.setdefault(key, value.strip().strip('"'))
    return out


def parse_mtl_json(text: str) -> dict[str, str]:
    """The groups of an ``_MTL.json`` flattened to ``KEY: value`` strings (first key wins)."""
    out: dict[str, str] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, (dict, list)):
                    walk(value)
                else:
                    out.setdefault(str(key), str(value))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(text))
    return out


def _metadata(files: ProductFiles) -> tuple[str, dict[str, str]]:
    found = sorted(files.find(_MTL.pattern), key=lambda n: not n.lower().endswith(".json"))
    if not found:
        raise InputError(
            f"{files.path} holds no *_MTL.txt or *_MTL.json; a Landsat Collection 2 scene is "
            "the folder or .tar of its files as delivered by USGS, metadata file included"
        )
    name = found[0]
    text = files.read_text(name)
    try:
        mtl = parse_mtl_json(text) if name.lower().endswith(".json") else parse_mtl_txt(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{files.describe(name)} is not valid JSON ({exc}); {_REDOWNLOAD}"
        ) from exc
    return name, mtl


def _float(mtl: dict[str, str], key: str, where: str) -> float:
    try:
        return float(mtl[key])
    except (KeyError, ValueError):
        raise InputError(
            f"{where} has no valid {key} (found {mtl.get(key)!r}); it is needed for TOA "
            f"reflectance: {_REDOWNLOAD}"
        ) from None


def _sensor(mtl: dict[str, str], where: str, product_id: str) -> tuple[str, str]:
    sensor_id = mtl.get("SENSOR_ID", "").upper()
    if sensor_id not in _SENSORS:
        raise InputError(
            f"{where} is from sensor {sensor_id or '(SENSOR_ID missing)'} of "
            f"{product_id}; Landsat scenes are read for OLI (Landsat 8/9), ETM+ (Landsat 7) "
            "and TM (Landsat 4/5); MSS scenes have no blue band the models need"
        )
    return _SENSORS[sensor_id]


def _check_level(mtl: dict[str, str], where: str, product_id: str) -> str:
    level = mtl.get("PROCESSING_LEVEL", "").upper()
    if level not in _LEVEL1:
        raise InputError(
            f"{where}: {product_id} is a {level or 'unknown'} product; Landsat scenes are read "
            "as Collection 2 Level-1 (L1TP, L1GT, L1GS) top-of-atmosphere data. For a "
            "Level-2 surface reflectance scene mask its Level-1 product (same path, row and "
            "date) instead"
        )
    return level


def _band_file(folder: str, mtl: dict[str, str], key: str, default: str) -> str:
    """A file the MTL names (``FILE_NAME_...``), else its standard name, beside the MTL."""
    return (f"{folder}/" if folder else "") + mtl.get(key, default)


def read(path: Path) -> Product:
    """Resolve a Collection 2 Level-1 folder, ``.tar`` or ``_MTL`` file (see the module doc)."""
    given = path.parent if path.is_file() and _MTL.fullmatch(path.name) else path
    files = ProductFiles.open(given)
    mtl_name, mtl = _metadata(files)
    folder = mtl_name.rpartition("/")[0]
    where = files.describe(mtl_name)
    product_id = mtl.get("LANDSAT_PRODUCT_ID") or Path(mtl_name).name.rsplit("_MTL", 1)[0]
    level = _check_level(mtl, where, product_id)
    family, sensor = _sensor(mtl, where, product_id)
    elevation = _float(mtl, "SUN_ELEVATION", where)
    if elevation <= 0:
        raise InputError(
            f"{where} gives a sun elevation of {elevation} degrees (the sun below the "
            "horizon): top-of-atmosphere reflectance is undefined for this scene"
        )
    sin_e = math.sin(math.radians(elevation))
    bands, members = [], []
    for n, name in SENSOR_BANDS[family].items():
        mult = _float(mtl, f"REFLECTANCE_MULT_BAND_{n}", where)
        add = _float(mtl, f"REFLECTANCE_ADD_BAND_{n}", where)
        member = _band_file(folder, mtl, f"FILE_NAME_BAND_{n}", f"{product_id}_B{n}.TIF")
        members.append(member)
        bands.append(
            ProductBand(name, f"B{n}", files.gdal_path(member), add / mult, mult / sin_e, 30.0)
        )
    qa = _band_file(folder, mtl, "FILE_NAME_QUALITY_L1_PIXEL", f"{product_id}_QA_PIXEL.TIF")
    members.append(qa)
    missing = [m for m in members if not files.has(m)]
    if missing:
        raise InputError(
            f"{files.path} lacks {', '.join(Path(m).name for m in missing)} that "
            f"{Path(mtl_name).name} names (Collection 2 scenes carry every band and "
            f"QA_PIXEL); {_REDOWNLOAD}"
        )
    files.check_complete(members)
    spacecraft = mtl.get("SPACECRAFT_ID", "").replace("_", " ").title() or "Landsat"
    return Product(
        path=files.path,
        format=FORMAT.name,
        name=product_id,
        mission=spacecraft,
        sensor=sensor,
        level=level,
        reflectance="TOA",
        bands=tuple(bands),
        unit=1.0,
        nodata_value=None,
        qa_band=files.gdal_path(qa),
        qa_fill_bit=0,
        processing_baseline=None,
        sun_elevation=elevation,
        metadata_file=mtl_name,
        notes=(
            f"Collection {mtl.get('COLLECTION_NUMBER', '?')}, "
            f"tier {mtl.get('COLLECTION_CATEGORY', '?')}",
        ),
    )


FORMAT = ProductFormat(
    name="landsat-c2-l1",
    description="Landsat Collection 2 Level-1 OLI/TIRS, ETM+, TM (folder, .tar or _MTL file)",
    detect=detect,
    read=read,
)
