"""Export: the trained models of a recipe as the model pair folder the engine loads.

Sidecars carry the bands, the normalisation both models share, the geometry, the fine model's
classes and threshold, and the provenance (recipe and its SHA-256, data, final metrics).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from cascade import __version__
from cascade.errors import DeriveError
from cascade.models.artifacts import ModelSpec, Normalization
from training.derive import open_set
from training.recipe import Recipe

__all__ = ["export"]


def _export_data(
    recipe: Recipe,
) -> tuple[tuple[str, ...], list[float], list[float], dict[str, Any], tuple[str, ...]]:
    """``(bands, mean, std, data summary, fine classes)`` of a trained recipe."""
    work = recipe.work_dir
    if recipe.mix is not None:
        from training.fine_mix import mix_summary, normalization
        from training.mix import FINE_CLASSES

        mean_a, std_a = normalization(recipe)
        with open_set(work / "coarse.h5", "coarse") as h5:
            coarse_scenes = json.loads(h5.attrs["scene_splits"])
        summary = {"coarse_scenes": coarse_scenes, **mix_summary(recipe)}
        return (
            recipe.profile.band_names,
            [float(v) for v in mean_a],
            [float(v) for v in std_a],
            summary,
            FINE_CLASSES,
        )
    with open_set(work / "fine.h5", "fine") as h5:
        bands = tuple(json.loads(h5.attrs["bands"]))
        mean = [float(v) for v in h5.attrs["norm_mean"]]
        std = [float(v) for v in h5.attrs["norm_std"]]
        summary = {
            "scenes": json.loads(h5.attrs["scene_splits"]),
            "fine_samples": int(h5["x"].shape[0]),
        }
    return bands, mean, std, summary, ("cloud", "clear", "nodata")


def _fine_options(recipe: Recipe, tuned: dict[str, Any]) -> dict[str, Any]:
    """The fine sidecar's options: the architecture's, and the tuned shadow threshold."""
    options: dict[str, Any] = {k: list(v) for k, v in recipe.fine.options.items()}
    if "shadow_threshold" in tuned:
        options["shadow_threshold"] = float(tuned["shadow_threshold"])
    return options


def export(recipe: Recipe, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write the model pair folder (weights + sidecars) for the engine."""
    from cascade.models import build_coarse_model, build_fine_model, save_model

    work = recipe.work_dir
    bands, mean, std, data_summary, fine_classes = _export_data(recipe)
    threshold_file = work / "threshold.json"
    if not threshold_file.exists():
        raise DeriveError(f"{threshold_file} is missing; run `cascade train tune-threshold` first")
    tuned = json.loads(threshold_file.read_text())
    history = {}
    for name in ("coarse_wce", "coarse_adjacency", "fine"):
        f = work / f"{name}.history.json"
        if f.exists():
            epochs = json.loads(f.read_text())["epochs"]
            history[name] = {k: v[-1] for k, v in epochs.items()}
    provenance = {
        "recipe": recipe.name,
        "recipe_sha256": recipe.sha256,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cloud_cascade": __version__,
        "data": data_summary,
        "final_metrics": history,
        "threshold_sweep_best": tuned["best"],
        "user": os.environ.get("USER", ""),
    }
    norm = Normalization(scale=recipe.input_scale, mean=tuple(mean), std=tuple(std))
    d = recipe.derive
    common: dict[str, Any] = {
        "bands": bands,
        "normalization": norm,
        "patch": d.patch,
        "margin": d.margin,
        "stride": d.stride,
        "provenance": provenance,
        "weights_dtype": recipe.export.weights_dtype,
    }
    coarse_spec = ModelSpec(
        role="coarse", architecture="coarse-encoder", backbone=recipe.coarse.backbone, **common
    )
    fine_spec = ModelSpec(
        role="fine",
        architecture=recipe.fine.architecture,
        backbone=recipe.fine.backbone,
        classes=fine_classes,
        threshold=float(tuned["threshold"]),
        options=_fine_options(recipe, tuned),
        **common,
    )
    coarse = build_coarse_model(recipe.coarse.backbone, len(bands))
    coarse.load_weights(work / "coarse.final.weights.h5")
    fine = build_fine_model(
        recipe.fine.architecture,
        recipe.fine.backbone,
        len(bands),
        d.patch,
        recipe.fine.options,
        classes=len(fine_classes),
    )
    fine.load_weights(work / "fine.final.weights.h5")
    out = Path(out_dir)
    save_model(coarse, coarse_spec, out, overwrite=overwrite)
    save_model(fine, fine_spec, out, overwrite=overwrite)
    return out
