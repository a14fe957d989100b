"""Routers: which cells go to the fine model.

A router takes the coarse model's probabilities ``(rows, cols, 4)`` (Overcast, Partly Cloudy,
Cloudless, No Data) and returns a boolean ``(rows, cols)`` grid, True where the fine model runs.
Named routers live in :data:`ROUTERS`; :func:`get_router` also accepts any callable with that
signature. The engine runs every router through the same code path, so ``all`` *is* the patch
baseline and ``none`` *is* the coarse-only mask.

*Routing rules* add cells to what the ``cascade`` router picks, each for a reason of its own
that the run report counts (``routed_by``). A rule takes the probabilities and each cell's
valid share (the part of its core area that is valid scene data, ``(rows, cols)`` in [0, 1])
and returns a boolean grid. :func:`thin_cells` is the first: a cell that is mostly completion
padding or No Data (the last cell row of a scene whose height is not a multiple of 248, a
1-pixel scene) gives the coarse model mostly padding to look at, so its answer for such a
cell is not trusted and the fine model decides. :func:`uncertain_cells` is the second: a cell
whose top coarse probability is below a confidence level the run asks for (``confidence``;
:data:`DEFAULT_CONFIDENCE`, 0, leaves the rule off) is one the coarse model is unsure of, so
the fine model decides that one too: it keeps an unsure coarse class from painting a whole cell
cloud or clear, at the cost of more fine windows. :func:`small_scene` is the third: a scene of
at most :data:`DEFAULT_SMALL_SCENE_CELLS` cells is smaller than the 5 x 5-cell samples the
shipped coarse models learned from, so the coarse model sees less context than it was trained
with (the shipped Sentinel-2 model calls a half-clear 2 x 2-cell crop all Overcast), while the
fine model on every one of its cells costs at most that many windows (about 2 s on two CPU
cores): every cell goes. :func:`routing_rules` says which rules a run
applies: none for ``all`` (it routes every cell anyway), ``none`` (coarse only, by
definition) and callables (their author decides).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.classes import PARTLY_CLOUDY
from cascade.errors import ConfigError, name_of

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_SMALL_SCENE_CELLS",
    "DEFAULT_THIN_CELL_SHARE",
    "ROUTERS",
    "Router",
    "RoutingRule",
    "get_router",
    "route_all",
    "route_cascade",
    "route_none",
    "routing_rules",
    "small_scene",
    "thin_cells",
    "uncertain_cells",
]

Router = Callable[[np.ndarray], np.ndarray]
# (probabilities (rows, cols, 4), valid share (rows, cols)) -> cells to route, bool (rows, cols)
RoutingRule = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Cells with less than this share of their core in valid data go to the fine model.
DEFAULT_THIN_CELL_SHARE = 0.5
# Cells whose top coarse probability is below this go to the fine model: 0, off by default
# (the paper's routing); docs/engine.md gives what a level costs on a full scene.
DEFAULT_CONFIDENCE = 0.0
# Scenes of at most this many cells (the 5 x 5 cells of the recipes' coarse samples,
# training/recipes/*.toml `grid`) route every cell; 0 turns the rule off.
DEFAULT_SMALL_SCENE_CELLS = 25


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
    if "confidence" in options and not 0.0 <= float(options["confidence"]) <= 1.0:
        raise ConfigError(
            f"{name_of('confidence')} must be in [0, 1] (0: off), got {options['confidence']}"
        )
    return partial(fn, **options) if options else fn


def thin_cells(
    probabilities: np.ndarray,
    valid_share: np.ndarray,
    *,
    min_share: float = DEFAULT_THIN_CELL_SHARE,
) -> npt.NDArray[np.bool_]:
    """Cells holding data in less than ``min_share`` of their core area (but in some)."""
    share = np.asarray(valid_share)
    return (share > 0) & (share < min_share)


def uncertain_cells(
    probabilities: np.ndarray,
    valid_share: np.ndarray,
    *,
    below: float = DEFAULT_CONFIDENCE,
) -> npt.NDArray[np.bool_]:
    """Cells whose top coarse probability is below ``below``."""
    del valid_share  # the engine leaves out cells without data
    return np.asarray(probabilities).max(axis=-1) < below


def small_scene(
    probabilities: np.ndarray,
    valid_share: np.ndarray,
    *,
    max_cells: int = DEFAULT_SMALL_SCENE_CELLS,
) -> npt.NDArray[np.bool_]:
    """Every cell of a scene whose grid has at most ``max_cells`` cells, else none."""
    del probabilities  # the grid's size alone decides
    share = np.asarray(valid_share)
    return np.full(share.shape, share.size <= max_cells, dtype=bool)


def routing_rules(
    router: str | Router,
    *,
    thin_cell_share: float = DEFAULT_THIN_CELL_SHARE,
    confidence: float | None = None,
    small_scene_cells: int = DEFAULT_SMALL_SCENE_CELLS,
) -> dict[str, RoutingRule]:
    """The rules a run with ``router`` applies on top of it, by name (see the module doc).

    ``confidence``: the ``uncertain`` rule's level (None: :data:`DEFAULT_CONFIDENCE`; 0: off);
    ``small_scene_cells``: the ``small_scene`` rule's size (0: off). Rules apply in this order,
    each counting only the cells the router and the rules before it had not picked.
    """
    if router != "cascade":
        return {}
    rules: dict[str, RoutingRule] = {}
    if thin_cell_share > 0:
        rules["thin_cells"] = partial(thin_cells, min_share=thin_cell_share)
    level = DEFAULT_CONFIDENCE if confidence is None else float(confidence)
    if level > 0:
        rules["uncertain"] = partial(uncertain_cells, below=level)
    if small_scene_cells > 0:
        rules["small_scene"] = partial(small_scene, max_cells=small_scene_cells)
    return rules


def check_routing(
    routed: object, grid_shape: tuple[int, int], what: str = "a router"
) -> npt.NDArray[np.bool_]:
    """Validate a router's (or a routing rule's) answer."""
    arr = np.asarray(routed)
    if arr.shape != grid_shape or arr.dtype != np.bool_:
        raise ConfigError(
            f"{what} must return a boolean {grid_shape} grid, got {arr.dtype} {arr.shape}"
        )
    return arr
