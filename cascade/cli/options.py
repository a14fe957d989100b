"""Options and helpers shared by the commands (defined once, as rasterio's ``rio/options``)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from cascade.routing import DEFAULT_CONFIDENCE

__all__ = [
    "BATCH_SIZE",
    "COARSE_FROM",
    "CONFIDENCE",
    "RESAMPLING",
    "ROUTER",
    "SCALE",
    "SHADOW",
    "SHADOW_THRESHOLD",
    "THRESHOLD",
    "engine_config",
    "geometry_options",
    "log_levels",
    "set_log_level",
]

_geometry_options = [
    click.option("--patch", default=256, show_default=True, help="Fine model window (px)."),
    click.option("--margin", default=4, show_default=True, help="Context on each side (px)."),
    click.option("--stride", default=32, show_default=True, help="Coarse encoder stride."),
]


def geometry_options(fn: Any) -> Any:
    """The patch/margin/stride options shared by the commands that build a geometry."""
    for option in reversed(_geometry_options):
        fn = option(fn)
    return fn


# With it set to 1, TensorFlow's start-up lines are shown (see cascade.models._tf).
TF_LOGS_ENV = "CASCADE_TF_LOGS"


def set_log_level(verbose: int, quiet: bool) -> None:
    """Log level from ``-v``/``-q``; ``-v`` also lets TensorFlow's start-up lines through."""
    if verbose and not quiet:
        os.environ[TF_LOGS_ENV] = "1"
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # basicConfig does nothing the second time


def log_levels(ctx: click.Context, verbose: int, quiet: bool) -> tuple[int, bool]:
    """A command's ``-v``/``-q`` merged with the group's, applied; ``(verbose, quiet)``."""
    quiet = quiet or ctx.find_root().params.get("quiet", False)
    verbose = verbose or ctx.find_root().params.get("verbose", 0)
    set_log_level(verbose, quiet)
    return verbose, quiet


# Engine options shared by `mask` and `batch`.
ROUTER = click.option(
    "--router",
    type=click.Choice(["cascade", "all", "none"]),
    default="cascade",
    show_default=True,
    help="cascade: fine model on Partly Cloudy cells; all: on "
    "every cell (the patch baseline); none: coarse only.",
)
CONFIDENCE = click.option(
    "--confidence",
    type=float,
    default=None,
    help="With --router cascade, also route cells whose top coarse probability is below "
    f"this (default {DEFAULT_CONFIDENCE:g}: off, only the Partly Cloudy, thin and small-scene "
    "cells; e.g. 0.8 for a safer mask at the cost of more fine windows).",
)
THRESHOLD = click.option(
    "--threshold",
    type=float,
    default=None,
    help="Cloud probability threshold (default: the model's).",
)
SHADOW = click.option(
    "--shadow/--no-shadow",
    default=None,
    help="Mark cloud shadow (mask code 2) with the fine model's shadow output. Default: when "
    "the model has one with a threshold tuned on shadow labels (rgbn does; sentinel2-l1c-7's "
    "shadow output is untuned: --shadow uses it at 0.5 or --shadow-threshold).",
)
SHADOW_THRESHOLD = click.option(
    "--shadow-threshold",
    type=float,
    default=None,
    help="Cloud-shadow probability threshold (default: the model's).",
)
SCALE = click.option(
    "--scale",
    "input_scale",
    type=float,
    default=None,
    help="TOA reflectance per input unit (default: the model's: 1e-4 for sentinel2-l1c-7 "
    "digital numbers, 1 for rgbn, which expects reflectance). Not for products, which are "
    "read with their metadata's scale and offset.",
)
BATCH_SIZE = click.option(
    "--batch-size", default=8, show_default=True, help="Fine patches per model call."
)
COARSE_FROM = click.option(
    "--coarse-from",
    type=click.Choice(["auto", "full", "overview"]),
    default="auto",
    show_default=True,
    help="What the coarse stage pools: auto, an overview of the input when it has one (a "
    "COG's, a JPEG 2000's resolution levels; cells short of data read again in full) else "
    "full resolution; full, every pixel (exact); overview, an overview or an error.",
)
RESAMPLING = click.option(
    "--resampling",
    default="bilinear",
    show_default=True,
    help="How coarser band files are resampled onto the finest grid.",
)


def engine_config(
    router: str,
    confidence: float | None,
    threshold: float | None,
    batch_size: int,
    input_scale: float | None,
    coarse_from: str = "auto",
    shadow: bool | None = None,
    shadow_threshold: float | None = None,
) -> Any:
    from cascade.engine import EngineConfig

    return EngineConfig(
        router=router,
        confidence=confidence,
        threshold=threshold,
        batch_size=batch_size,
        input_scale=input_scale,
        coarse_from=coarse_from,
        shadow=shadow,
        shadow_threshold=shadow_threshold,
    )
