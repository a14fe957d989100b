"""cloud-cascade: full-scene cloud masks with a coarse/fine CNN cascade.

``import cascade`` is light: it loads the geometry, class codes and errors only. The main API
is exported here lazily, loaded on first use::

    from cascade import EngineConfig, load_cascade_model, mask_scene, mask_array

The Numba kernels (:mod:`cascade.kernels`) compile on first use; TensorFlow is imported only
by the Keras model modules (:mod:`cascade.models`), rasterio only by :mod:`cascade.io.raster`,
Dask only by :mod:`cascade.batch`, click only by :mod:`cascade.cli`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cascade.classes import (
    CLEAR,
    CLOUD,
    CLOUDLESS,
    NO_DATA,
    NODATA,
    OVERCAST,
    PARTLY_CLOUDY,
    SHADOW,
)
from cascade.errors import CascadeError, GeometryError, InputArrayError
from cascade.geometry import SceneGeometry, Window

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cascade.batch import BatchReport, run_batch
    from cascade.engine import (
        CascadeModel,
        CascadeResult,
        EngineConfig,
        load_cascade_model,
        mask_array,
        mask_scene,
        run_cascade,
    )
    from cascade.models.pretrained import choose_model, pick_model

# name -> module it is loaded from on first use
_LAZY = {
    "CascadeModel": "cascade.engine",
    "CascadeResult": "cascade.engine",
    "EngineConfig": "cascade.engine",
    "load_cascade_model": "cascade.engine",
    "mask_array": "cascade.engine",
    "mask_scene": "cascade.engine",
    "run_cascade": "cascade.engine",
    "BatchReport": "cascade.batch",
    "run_batch": "cascade.batch",
    "choose_model": "cascade.models.pretrained",
    "pick_model": "cascade.models.pretrained",
}

__all__ = [
    "CLEAR",
    "CLOUD",
    "CLOUDLESS",
    "NODATA",
    "NO_DATA",
    "OVERCAST",
    "PARTLY_CLOUDY",
    "SHADOW",
    "BatchReport",
    "CascadeError",
    "CascadeModel",
    "CascadeResult",
    "EngineConfig",
    "GeometryError",
    "InputArrayError",
    "SceneGeometry",
    "Window",
    "__version__",
    "choose_model",
    "load_cascade_model",
    "mask_array",
    "mask_scene",
    "pick_model",
    "run_batch",
    "run_cascade",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cascade' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
