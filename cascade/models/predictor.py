"""The predictor protocol, and the model pair the engine runs (:class:`CascadeModel`).

A predictor is any callable that takes a float32 batch ``(n, height, width, bands)`` of
normalised model input and returns float32 probabilities ``(n, height', width', classes)``:

- coarse: ``(1, G * stride, G * stride, bands)`` -> ``(1, G, G, 4)`` (Overcast, Partly
  Cloudy, Cloudless, No Data);
- fine: ``(n, patch, patch, bands)`` -> ``(n, patch, patch, k)`` with channel 0 the cloud
  probability (the shipped models have k = 3: Cloud, Clear, No Data).

Keras models are wrapped by :class:`cascade.models.KerasPredictor`; tests use plain functions;
another runtime (ONNX Runtime, say) only needs a callable with this signature. No TensorFlow
here: :func:`load_cascade_model` imports it when it loads Keras weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cascade.errors import ArtifactError
from cascade.geometry import SceneGeometry
from cascade.models.artifacts import ModelSpec, check_pair

__all__ = ["CascadeModel", "Predictor", "load_cascade_model"]


class Predictor(Protocol):
    """Numpy batch in, probabilities out (see the module docstring)."""

    def __call__(self, batch: np.ndarray, /) -> np.ndarray: ...


@dataclass
class CascadeModel:
    """A coarse and a fine predictor with their sidecars (what ``--model`` names)."""

    coarse: Predictor
    fine: Predictor
    coarse_spec: ModelSpec
    fine_spec: ModelSpec
    name: str = "model"

    def __post_init__(self) -> None:
        problems = check_pair(self.coarse_spec, self.fine_spec)
        if problems:
            raise ArtifactError(f"model {self.name}: " + "; ".join(problems))

    @property
    def bands(self) -> tuple[str, ...]:
        return self.coarse_spec.bands

    def geometry(self, height: int, width: int) -> SceneGeometry:
        s = self.fine_spec
        return SceneGeometry(height, width, patch=s.patch, margin=s.margin, stride=s.stride)

    def describe(self) -> dict[str, Any]:
        """What the mask's ``model`` tag and the run report record about the pair."""
        return describe_pair(self.coarse_spec, self.fine_spec, self.name)


def describe_pair(coarse: ModelSpec, fine: ModelSpec, name: str) -> dict[str, Any]:
    """The description of a model pair from its sidecars alone (no weights loaded)."""
    return {
        "name": name,
        "bands": list(coarse.bands),
        "coarse": f"{coarse.architecture}/{coarse.backbone}",
        "fine": f"{fine.architecture}/{fine.backbone}",
        "coarse_weights_sha256": coarse.weights_sha256,
        "fine_weights_sha256": fine.weights_sha256,
        "threshold": fine.threshold,
    }


def load_cascade_model(folder: str | Path, *, batch_size: int = 8) -> CascadeModel:
    """Load a model pair folder with Keras (imports TensorFlow)."""
    from cascade.models.predict import load_predictors

    coarse, fine, specs = load_predictors(folder, batch_size=batch_size)
    return CascadeModel(coarse, fine, specs.coarse, specs.fine, name=Path(folder).name)
