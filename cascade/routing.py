"""Routers: which cells go to the fine model.

A router takes the coarse model's probabilities ``(rows, cols, 4)`` (Overcast, Partly Cloudy,
Cloudless, No Data) and returns a boolean ``(rows, cols)`` grid, True where the fine model runs.
Named routers live in :data:`ROUTERS`; :func:`get_router` also accepts any callable with that
signature. The engine runs every router through the same code path, so ``all`` *is* the patch
baseline and ``none`` *is* the coarse-only mask.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.classes import PARTLY_CLOUDY
from cascade.errors import ConfigError

__all__ = ["ROUTERS", "Router", "get_router", "route_all", "route_cascade", "route_none"]

Router = Callable[[np.ndarray], np.ndarray]


def route_cascade(
    probabilities: np.ndarray, *, confidence: float | None = None
) -> npt.NDArray[np.bool_]:
    """Partly Cloudy cells; with ``confidence``, also cells whose top probability is below it."""
    routed = probabilities.argmax(axis=-1) == PARTLY_CLOUDY
    if confidence is not None:
        routed |= probabilities.max(axis=-1) < confidence
    return routed


def route_all(probabilities: np.ndarray) -> npt.NDArray[np.bool_]:
    """Every cell: the patch baseline."""
    return np.ones(probabilities.shape[:-1], dtype=bool)


def route_none(probabilities: np.ndarray) -> npt.NDArray[np.bool_]:
    """No cell: coarse only (Partly Cloudy cells become cloud, as in the paper)."""
    return np.zeros(probabilities.shape[:-1], dtype=bool)


ROUTERS: dict[str, Callable[..., npt.NDArray[np.bool_]]] = {
    "cascade": route_cascade,
    "all": route_all,
    "none": route_none,
}


def get_router(router: str | Router, **options: Any) -> Router:
    """A router by name (with options, e.g. ``confidence`` for ``cascade``) or a callable.

    Options whose value is None count as not given.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if callable(router):
        if options:
            raise ConfigError(f"options {sorted(options)} only apply to named routers")
        return router
    try:
        fn = ROUTERS[router]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown router {router!r}; expected one of {sorted(ROUTERS)} or a callable"
        ) from None
    if options and router != "cascade":
        raise ConfigError(f"router {router!r} takes no options, got {sorted(options)}")
    if "confidence" in options and not 0.0 < float(options["confidence"]) <= 1.0:
        raise ConfigError(f"confidence must be in (0, 1], got {options['confidence']}")
    return partial(fn, **options) if options else fn


def check_routing(routed: object, grid_shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Validate a router's answer."""
    arr = np.asarray(routed)
    if arr.shape != grid_shape or arr.dtype != np.bool_:
        raise ConfigError(
            f"a router must return a boolean {grid_shape} grid, got {arr.dtype} {arr.shape}"
        )
    return arr
