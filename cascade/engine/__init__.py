"""The cascade engine: scene in, full-resolution cloud mask out.

- :mod:`cascade.engine.config`: :class:`EngineConfig`;
- :mod:`cascade.engine.source`: what a scene is read through (:class:`ArraySource`);
- :mod:`cascade.engine.stages`: read and pool, coarse model, route, fine model;
- :mod:`cascade.engine.decide`: probabilities to mask;
- :mod:`cascade.engine.provenance`: the run report and the outputs' tags;
- :mod:`cascade.engine.run`: :func:`run_cascade`, :func:`mask_array`, :func:`mask_scene`;
- :mod:`cascade.engine.usable`: the usable-ground mask on disk (:func:`write_usable`).
"""

from cascade.engine.config import EngineConfig
from cascade.engine.run import CascadeResult, mask_array, mask_scene, run_cascade
from cascade.engine.source import ArraySource, SceneSource
from cascade.engine.stages import coarse_input
from cascade.engine.usable import write_usable
from cascade.models.predictor import CascadeModel, load_cascade_model

__all__ = [
    "ArraySource",
    "CascadeModel",
    "CascadeResult",
    "EngineConfig",
    "SceneSource",
    "coarse_input",
    "load_cascade_model",
    "mask_array",
    "mask_scene",
    "run_cascade",
    "write_usable",
]
