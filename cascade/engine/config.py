"""The engine's configuration: one frozen, validated object, recorded in every output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cascade.engine.coarse_read import COARSE_FROM
from cascade.errors import ConfigError, name_of
from cascade.kernels._common import PadMode
from cascade.routing import (
    DEFAULT_SMALL_SCENE_CELLS,
    DEFAULT_THIN_CELL_SHARE,
    Router,
    RoutingRule,
    get_router,
    routing_rules,
)

__all__ = ["DEFAULT_SHADOW_THRESHOLD", "DEFAULT_STRIP_ROWS", "EngineConfig"]

# The shadow threshold of a model whose sidecar names none (options["shadow_threshold"]).
DEFAULT_SHADOW_THRESHOLD = 0.5

# Strips of this many scene rows are read for pooling (7 bands x 10980 columns x uint16: 150 MB).
DEFAULT_STRIP_ROWS = 1024


@dataclass(frozen=True)
class EngineConfig:
    """How the engine runs; recorded in every output.

    ``router``: ``"cascade"``, ``"all"``, ``"none"`` or a callable (see :mod:`cascade.routing`);
    ``confidence``: with ``cascade``, also route cells whose top coarse probability is below
    this (None: :data:`cascade.routing.DEFAULT_CONFIDENCE`; 0: off; the report counts them under
    ``routed_by["uncertain"]``); ``threshold``: cloud probability threshold of the fine model
    (default: the model's own); ``batch_size``: fine patches per model call; ``pad_mode``: how
    windows are filled beyond the scene edge; ``strip_rows``: rows per read when pooling;
    ``keep_probabilities``: also return the cloud probability raster (4 bytes a pixel; with it,
    :meth:`CascadeResult.mask_at` re-decides the mask at another threshold without inference);
    ``prefetch``: prepare the next fine batch in a background thread; ``input_scale``: TOA
    reflectance per unit of the input (default: the model's, e.g. 1e-4 for Sentinel-2 L1C
    digital numbers; 1.0 for inputs already in reflectance); ``thin_cell_share``: with the
    ``cascade`` router, cells holding valid data in less than this share of their core area go
    to the fine model whatever the coarse model says (0 turns the rule off; see
    :func:`cascade.routing.thin_cells`); ``small_scene_cells``: with ``cascade``, a scene of at
    most this many cells routes every cell (0 turns the rule off; see
    :func:`cascade.routing.small_scene`); ``coarse_from``: what the coarse stage pools,
    ``"full"`` resolution, an ``"overview"`` of the source, or ``"auto"`` (an overview when
    the source has one; :mod:`cascade.engine.coarse_read`); ``shadow``: mark cloud shadow (mask
    code 2) with the fine model's shadow output (None: when the model has one with a tuned
    threshold in its sidecar, see :func:`cascade.engine.run.shadow_output`; True: whenever the
    model has a shadow output, refused for a model without; False: a two-class mask);
    ``shadow_threshold``: shadow probability threshold (default: the model's own, else
    :data:`DEFAULT_SHADOW_THRESHOLD`).
    """

    router: str | Router = "cascade"
    confidence: float | None = None
    threshold: float | None = None
    batch_size: int = 8
    pad_mode: PadMode = "reflect"
    strip_rows: int = DEFAULT_STRIP_ROWS
    keep_probabilities: bool = False
    prefetch: bool = True
    input_scale: float | None = None
    thin_cell_share: float = DEFAULT_THIN_CELL_SHARE
    small_scene_cells: int = DEFAULT_SMALL_SCENE_CELLS
    coarse_from: str = "auto"
    shadow: bool | None = None
    shadow_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"{name_of('batch_size')} must be >= 1, got {self.batch_size}")
        if self.strip_rows < 1:
            raise ConfigError(f"{name_of('strip_rows')} must be >= 1, got {self.strip_rows}")
        if self.input_scale is not None and not (
            np.isfinite(self.input_scale) and self.input_scale > 0
        ):
            raise ConfigError(
                f"{name_of('input_scale')} must be a positive number (reflectance per input "
                f"unit, e.g. 1e-4 for Sentinel-2 DN), got {self.input_scale}"
            )
        for key in ("threshold", "shadow_threshold"):
            value = getattr(self, key)
            if value is not None and not 0.0 < value < 1.0:
                raise ConfigError(f"{name_of(key)} must be in (0, 1), got {value}")
        if self.shadow not in (None, True, False):
            raise ConfigError(
                f"{name_of('shadow')} must be None (the model's), True or False, got "
                f"{self.shadow!r}"
            )
        if not 0.0 <= self.thin_cell_share <= 1.0:
            raise ConfigError(
                f"{name_of('thin_cell_share')} must be in [0, 1] (0: off), got "
                f"{self.thin_cell_share}"
            )
        if isinstance(self.small_scene_cells, bool) or not (
            isinstance(self.small_scene_cells, (int, np.integer)) and self.small_scene_cells >= 0
        ):
            raise ConfigError(
                f"{name_of('small_scene_cells')} must be a whole number >= 0 (0: off), got "
                f"{self.small_scene_cells!r}"
            )
        if self.coarse_from not in COARSE_FROM:
            raise ConfigError(
                f"{name_of('coarse_from')} must be one of {', '.join(COARSE_FROM)}, got "
                f"{self.coarse_from!r}"
            )
        get_router(self.router, confidence=self.confidence)  # validates name and options

    def routing_rules(self) -> dict[str, RoutingRule]:
        """The routing rules a run with this configuration applies after its router."""
        return routing_rules(
            self.router,
            thin_cell_share=self.thin_cell_share,
            confidence=self.confidence,
            small_scene_cells=self.small_scene_cells,
        )

    def to_dict(self) -> dict[str, Any]:
        router = (
            self.router
            if isinstance(self.router, str)
            else getattr(self.router, "__name__", repr(self.router))
        )
        return {
            "router": router,
            "confidence": self.confidence,
            "threshold": self.threshold,
            "batch_size": self.batch_size,
            "pad_mode": self.pad_mode,
            "strip_rows": self.strip_rows,
            "input_scale": self.input_scale,
            "thin_cell_share": self.thin_cell_share,
            "small_scene_cells": int(self.small_scene_cells),
            "coarse_from": self.coarse_from,
            "shadow": self.shadow,
            "shadow_threshold": self.shadow_threshold,
        }
