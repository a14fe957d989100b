"""Rebuild ``sample/s2cloudless_scene.tif`` from the s2cloudless test scene.

Source: ``input_arrays.npz`` of the ``s2cloudless`` 1.2.2 sdist (Sentinel Hub), CC BY-SA 4.0,
as kept in ``../shared/data/s2cloudless_scene``. The arrays are Sentinel-2 L1C top-of-atmosphere
reflectance of a cloudy scene, 856 x 512 px, 13 bands; we keep the seven bands of the
cascade paper and store them as digital numbers (reflectance x 10000, uint16, 0 = no data)
with band descriptions B01 ... B10. The arrays carry no location, so the file has no CRS
and a unit pixel grid: we do not invent one.

    python sample/make_sample.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from affine import Affine

from cascade.io.raster import write_raster
from training.simulator import data_root

ALL_BANDS = (
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
KEEP = ("B01", "B02", "B03", "B04", "B08", "B09", "B10")
OUT = Path(__file__).resolve().parent / "s2cloudless_scene.tif"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    root = data_root(args.data_dir)
    arrays = np.load(root / "s2cloudless_scene" / "input_arrays.npz")
    refl = arrays["s2_im"][0]  # (856, 512, 13)
    idx = [ALL_BANDS.index(b) for b in KEEP]
    dn = np.clip(np.rint(refl[..., idx] * 10000.0), 1, 65535).astype(np.uint16)
    write_raster(
        OUT,
        dn.transpose(2, 0, 1),
        crs=None,
        transform=Affine.identity(),
        nodata=0,
        descriptions=KEEP,
        tags={
            "source": "s2cloudless 1.2.2 sdist, tests/TestInputs/input_arrays.npz (Sentinel Hub)",
            "license": "CC BY-SA 4.0, https://creativecommons.org/licenses/by-sa/4.0/",
            "attribution": "Contains modified Copernicus Sentinel data, via the s2cloudless "
            "test data by Sentinel Hub (CC BY-SA 4.0)",
            "units": "Sentinel-2 L1C digital numbers: TOA reflectance x 10000",
        },
        overwrite=True,
    )
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
