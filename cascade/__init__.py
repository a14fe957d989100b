"""cloud-cascade: full-scene cloud masks with a coarse/fine CNN cascade.

``import cascade`` is light: it loads the geometry and class codes only. The Numba kernels
(:mod:`cascade.kernels`) compile on first use; TensorFlow is imported only by the model
modules.
"""

from cascade.classes import (
    CLEAR,
    CLOUD,
    CLOUDLESS,
    NO_DATA,
    NODATA,
    OVERCAST,
    PARTLY_CLOUDY,
)
from cascade.errors import CascadeError, GeometryError, InputArrayError
from cascade.geometry import SceneGeometry, Window

__version__ = "0.1.0"

__all__ = [
    "CLEAR",
    "CLOUD",
    "CLOUDLESS",
    "NODATA",
    "NO_DATA",
    "OVERCAST",
    "PARTLY_CLOUDY",
    "CascadeError",
    "GeometryError",
    "InputArrayError",
    "SceneGeometry",
    "Window",
    "__version__",
]
