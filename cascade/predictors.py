"""The predictor protocol: what the engine needs from a model, whatever runs it.

A predictor is any callable that takes a float32 batch ``(n, height, width, bands)`` of
normalised model input and returns float32 probabilities ``(n, height', width', classes)``:

- coarse: ``(1, G * stride, G * stride, bands)`` -> ``(1, G, G, 4)`` (Overcast, Partly
  Cloudy, Cloudless, No Data);
- fine: ``(n, patch, patch, bands)`` -> ``(n, patch, patch, k)`` with channel 0 the cloud
  probability (the shipped models have k = 3: Cloud, Clear, No Data).

Keras models are wrapped by :class:`cascade.models.KerasPredictor`; tests use plain functions;
another runtime (ONNX Runtime, say) only needs a callable with this signature.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["Predictor"]


class Predictor(Protocol):
    """Numpy batch in, probabilities out (see the module docstring)."""

    def __call__(self, batch: np.ndarray, /) -> np.ndarray: ...
