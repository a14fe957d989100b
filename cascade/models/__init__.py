"""The models of the cascade: sidecars, predictors, Keras builders and the shipped pairs.

- :mod:`cascade.models.artifacts`: model sidecars (JSON) and model pair folders, no TensorFlow;
- :mod:`cascade.models.predictor`: the predictor protocol and :class:`CascadeModel`, the pair
  the engine runs, no TensorFlow;
- :mod:`cascade.models.pretrained`: the shipped pairs and picking one for a scene's bands;
- :mod:`cascade.models.builders` and :mod:`cascade.models.predict`: Keras models (the only
  modules of ``cascade`` that import TensorFlow), exported here lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FINE_ARCHITECTURES",
    "KerasPredictor",
    "build_coarse_model",
    "build_fine_model",
    "build_model",
    "count_params",
    "load_model",
    "load_predictors",
    "save_model",
]

_LAZY = {
    "FINE_ARCHITECTURES": "cascade.models.builders",
    "build_coarse_model": "cascade.models.builders",
    "build_fine_model": "cascade.models.builders",
    "build_model": "cascade.models.builders",
    "count_params": "cascade.models.builders",
    "load_model": "cascade.models.builders",
    "save_model": "cascade.models.builders",
    "KerasPredictor": "cascade.models.predict",
    "load_predictors": "cascade.models.predict",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cascade.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
