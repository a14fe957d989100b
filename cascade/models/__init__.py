"""Keras models of the cascade (imports TensorFlow; everything else in cascade does not).

Builders rebuild architectures from sidecars (:mod:`cascade.artifacts`); weights are saved and
loaded as ``.weights.h5`` files; :class:`KerasPredictor` runs a model on numpy batches.
"""

from cascade.models.builders import (
    FINE_ARCHITECTURES,
    build_coarse_model,
    build_fine_model,
    build_model,
    count_params,
    load_model,
    save_model,
)
from cascade.models.predict import KerasPredictor, load_predictors

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
