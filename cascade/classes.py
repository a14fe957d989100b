"""Class codes shared by masks, cell grids and models.

Pixel masks (full resolution) use the output encoding of the written GeoTIFF::

    CLEAR = 0, CLOUD = 1, SHADOW = 2, NODATA = 255

(``SHADOW`` appears in training and evaluation labels that have a cloud-shadow class, and in
the output of models with a shadow channel; a two-class mask never holds it.)

Cell grids (one value per 248 x 248 cell, the coarse model's output) use the channel order of
the coarse model's softmax::

    OVERCAST = 0, PARTLY_CLOUDY = 1, CLOUDLESS = 2, NO_DATA = 3
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CELL_CLASS_NAMES",
    "CLEAR",
    "CLOUD",
    "CLOUDLESS",
    "MASK_CLASS_NAMES",
    "NODATA",
    "NO_DATA",
    "OVERCAST",
    "PARTLY_CLOUDY",
    "SHADOW",
]

CLEAR: Final = 0
CLOUD: Final = 1
SHADOW: Final = 2
NODATA: Final = 255
MASK_CLASS_NAMES: Final = {CLEAR: "clear", CLOUD: "cloud", SHADOW: "shadow", NODATA: "nodata"}

OVERCAST: Final = 0
PARTLY_CLOUDY: Final = 1
CLOUDLESS: Final = 2
NO_DATA: Final = 3
CELL_CLASS_NAMES: Final = ("overcast", "partly_cloudy", "cloudless", "no_data")
