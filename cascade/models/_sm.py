"""The one place segmentation-models is imported.

segmentation-models picks its Keras at import time from ``SM_FRAMEWORK`` and prints a line to
stdout; here it is told to use ``tf.keras`` (TensorFlow's Keras 3) and its greeting is kept
off the user's stdout. Everything else asks :func:`sm` for the module and
:func:`submodules` for the Keras parts its factories need, so no module-global framework
switch leaks into the rest of the code.
"""

from __future__ import annotations

import contextlib
import io
import os
from functools import cache
from types import ModuleType
from typing import Any

from cascade.errors import ConfigError

FRAMEWORK = "tf.keras"


@cache
def sm() -> ModuleType:
    """The segmentation_models module, configured for TensorFlow's Keras."""
    os.environ["SM_FRAMEWORK"] = FRAMEWORK
    with contextlib.redirect_stdout(io.StringIO()):
        import segmentation_models

    if segmentation_models.framework() != FRAMEWORK:
        # Imported earlier by someone else with another framework: switch it for us.
        with contextlib.redirect_stdout(io.StringIO()):
            segmentation_models.set_framework(FRAMEWORK)
    if segmentation_models.framework() != FRAMEWORK:  # pragma: no cover - defensive
        raise ConfigError(
            f"segmentation_models runs on {segmentation_models.framework()!r}, expected "
            f"{FRAMEWORK!r}; import cascade.models before segmentation_models"
        )
    return segmentation_models


def submodules() -> dict[str, Any]:
    """The Keras submodules that segmentation-models' backbone factory expects as kwargs."""
    m = sm()
    return {
        "backend": m._KERAS_BACKEND,
        "layers": m._KERAS_LAYERS,
        "models": m._KERAS_MODELS,
        "utils": m._KERAS_UTILS,
    }


def backbone_names() -> list[str]:
    """Every backbone segmentation-models knows."""
    return sorted(sm().Backbones.models_names())
