"""Running Keras models on numpy batches."""

from __future__ import annotations

from pathlib import Path

# isort: off
from cascade.models import _tf  # noqa: F401  (first: TensorFlow's start-up, quietly)
import keras
import tensorflow as tf

# isort: on
import numpy as np

from cascade.models.artifacts import PairSpecs, load_pair_specs
from cascade.models.builders import load_model

__all__ = ["KerasPredictor", "load_predictors"]


class KerasPredictor:
    """A Keras model as a :class:`cascade.predictors.Predictor`.

    Runs ``batch_size`` samples per call of a compiled ``tf.function`` (on a GPU when
    TensorFlow sees one; nothing here assumes the CPU) and returns float32 numpy arrays.
    """

    def __init__(self, model: keras.Model, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = int(batch_size)
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def __call__(self, batch: np.ndarray, /) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        outs = [
            np.asarray(self._fn(tf.constant(batch[i : i + self.batch_size])), dtype=np.float32)
            for i in range(0, batch.shape[0], self.batch_size)
        ]
        return np.concatenate(outs) if len(outs) != 1 else outs[0]


def load_predictors(
    folder: str | Path, *, batch_size: int = 8
) -> tuple[KerasPredictor, KerasPredictor, PairSpecs]:
    """Load a model pair folder: ``(coarse predictor, fine predictor, sidecars)``."""
    specs = load_pair_specs(folder)
    coarse = KerasPredictor(load_model(specs.coarse, specs.folder), batch_size=1)
    fine = KerasPredictor(load_model(specs.fine, specs.folder), batch_size=batch_size)
    return coarse, fine, specs
