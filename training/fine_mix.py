"""The fine model on mixed windows: recipes with a ``[mix]`` table (see :mod:`training.mix`).

- :func:`normalization`: per-band mean and standard deviation of the mixed sources, the
  normalisation of both models of the pair (the engine feeds both with one);
- :func:`train_fine_mixed`: sigmoid outputs cloud / clear / No Data / shadow, binary cross
  entropy, windows drawn afresh every step; the best epoch by the loss on the validation
  images' windows (the recipe's ``[mix] validation``: real labelled images, never the
  evaluation images) is kept;
- :func:`tune_threshold_mixed`: the cloud threshold (and the shadow threshold of a model with a
  shadow output) swept on the whole validation images, as the engine sees them (``patch``
  windows, ``margin`` context, cores reassembled).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.errors import RecipeError
from cascade.geometry import SceneGeometry
from training.mix import (
    FINE_CLASSES,
    UNANNOTATED,
    Image,
    MixConfig,
    WindowPool,
    fine_targets,
    load_images,
    normalise,
)
from training.recipe import Recipe

__all__ = [
    "gain_offset",
    "mix_summary",
    "normalization",
    "predict_probs",
    "train_fine_mixed",
    "tune_threshold_mixed",
    "validation_images",
]

log = logging.getLogger(__name__)

NORM_FILE = "normalization.json"


def _mix(recipe: Recipe) -> MixConfig:
    if recipe.mix is None:
        raise RecipeError(f"recipe {recipe.name} has no [mix] table")
    return recipe.mix


def _pool(recipe: Recipe) -> WindowPool:
    return WindowPool(_mix(recipe), recipe.profile, recipe.augment, seed=recipe.seed)


def normalization(recipe: Recipe, pool: WindowPool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` per band of the mixed sources (computed once, kept in the work folder),
    or those of the work folder ``[mix] normalization_from`` names."""
    given = _mix(recipe).normalization_from
    if given is not None:
        source = given / NORM_FILE
        if not source.is_file():
            raise RecipeError(
                f"[mix] normalization_from: {source} does not exist; train the recipe whose "
                "work folder it names first (its fine stage writes it)"
            )
        saved = json.loads(source.read_text())
        return np.asarray(saved["mean"]), np.asarray(saved["std"])
    path = recipe.work_dir / NORM_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("recipe_sha256") == recipe.sha256:
            return np.asarray(saved["mean"]), np.asarray(saved["std"])
    mean, std = (pool or _pool(recipe)).statistics()
    recipe.work_dir.mkdir(parents=True, exist_ok=True)
    record = {"recipe_sha256": recipe.sha256, "mean": mean.tolist(), "std": std.tolist()}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return mean, std


def gain_offset(recipe: Recipe) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``input = reflectance * gain + offset`` of the recipe's normalisation."""
    mean, std = normalization(recipe)
    return (1.0 / std).astype(np.float32), (-mean / std).astype(np.float32)


def validation_images(recipe: Recipe) -> list[Image]:
    """The recipe's validation images (``[mix] validation``) in its bands."""
    rng = np.random.default_rng(recipe.seed + 1)
    return load_images(_mix(recipe).validation, recipe.profile, rng)


def _validation_windows(
    images: list[Image], size: int, gain: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every validation image cut into ``size`` windows (edges mirrored), normalised."""
    xs, ys = [], []
    for im in images:
        h, w = im.labels.shape
        ph, pw = -h % size, -w % size
        bands = np.pad(
            im.bands,
            ((0, 0), (0, ph), (0, pw)),
            mode="reflect" if min(h, w) > max(ph, pw) else "edge",
        )
        labels = np.pad(im.labels, ((0, ph), (0, pw)), constant_values=NODATA)
        for r in range(0, h + ph, size):
            for c in range(0, w + pw, size):
                xs.append(normalise(bands[:, r : r + size, c : c + size], gain, offset))
                ys.append(fine_targets(labels[r : r + size, c : c + size]))
    return np.stack(xs), np.stack(ys)


def _skips_labels(recipe: Recipe) -> bool:
    """Whether some window of the recipe can hold :data:`training.mix.UNANNOTATED` pixels."""
    mix = _mix(recipe)
    return any(s.shadow_labels != "complete" for s in (*mix.sources, mix.validation))


def train_fine_mixed(recipe: Recipe, *, restart: bool = False) -> dict[str, Any]:
    """Train the fine model on mixed windows; writes ``fine.final.weights.h5``."""
    import keras
    import tensorflow as tf

    from cascade.models import build_fine_model
    from training.cross_entropy import WeightedCrossEntropy
    from training.feed import malloc_keep_memory
    from training.train import _bn_momentum, _fit, _init_weights, _seed

    cfg = recipe.fine
    if cfg.steps_per_epoch is None:
        raise RecipeError("[fine] steps_per_epoch is needed with [mix] (windows are endless)")
    pool = _pool(recipe)
    recipe.work_dir.mkdir(parents=True, exist_ok=True)
    mean, std = normalization(recipe, pool)
    gain, offset = (1.0 / std).astype(np.float32), (-mean / std).astype(np.float32)
    w, nb = _mix(recipe).window, len(recipe.profile)
    _seed(recipe.seed)

    def batches() -> Any:
        malloc_keep_memory()  # after TensorFlow's own setting for generator datasets
        yield from pool.batches(cfg.batch_size, gain, offset, recipe.seed)

    spec = (
        tf.TensorSpec((cfg.batch_size, w, w, nb), tf.float32),
        tf.TensorSpec((cfg.batch_size, w, w, len(FINE_CLASSES)), tf.float32),
    )
    train = tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)
    vx, vy = _validation_windows(validation_images(recipe), w, gain, offset)
    val = tf.data.Dataset.from_tensor_slices((vx, vy)).batch(cfg.batch_size).repeat()
    model = build_fine_model(
        cfg.architecture, cfg.backbone, nb, w, cfg.options, classes=len(FINE_CLASSES)
    )
    _bn_momentum(model)
    fingerprint = f"{recipe.sha256}:mix"
    init = None
    if cfg.init_weights:
        init, fingerprint = _init_weights(model, recipe, fingerprint, role="fine")
    loss: Any = keras.losses.BinaryCrossentropy()
    if cfg.alpha is not None or cfg.beta is not None or _skips_labels(recipe):
        # The weighted form also skips unknown targets (keras' binary cross entropy does not).
        ones = (1.0,) * len(FINE_CLASSES)
        loss = WeightedCrossEntropy(cfg.alpha or ones, cfg.beta or ones)
    out = _fit(
        model,
        "fine",
        recipe.work_dir,
        train,
        val,
        cfg,
        cfg.steps_per_epoch * cfg.batch_size,
        cfg.epochs,
        loss,
        [keras.metrics.BinaryAccuracy()],
        fingerprint=fingerprint,
        restart=restart,
        validation_steps=-(-len(vx) // cfg.batch_size),
    )
    model.save_weights(recipe.work_dir / "fine.final.weights.h5", overwrite=True)
    return out if init is None else {**out, "init_weights": init}


def predict_probs(
    model: Any,
    bands: np.ndarray,
    gain: np.ndarray,
    offset: np.ndarray,
    g: SceneGeometry,
    batch: int = 8,
) -> npt.NDArray[np.float32]:
    """Every output's probability ``(h, w, k)`` of a whole image, windows as the engine cuts
    them."""
    from cascade.kernels import extract_patches, reassemble_patches

    cells = np.argwhere(np.ones(g.grid_shape, dtype=bool))
    windows = extract_patches(bands, g, cells, dtype=np.float32)  # (n, p, p, bands)
    nodata = ~windows.any(axis=-1)
    windows = windows * gain + offset
    windows[nodata] = 0.0
    probs = np.concatenate(
        [
            np.asarray(model(windows[i : i + batch], training=False))
            for i in range(0, len(windows), batch)
        ]
    )
    out = np.zeros((probs.shape[-1], g.height, g.width), np.float32)
    for k in range(probs.shape[-1]):
        channel = np.ascontiguousarray(probs[..., k], dtype=np.float32)
        reassemble_patches(channel, g, cells, out=out[k])
    return np.moveaxis(out, 0, -1)


def _sweep(
    recipe: Recipe, pred_at: Any, truth: np.ndarray, key: str, what: str
) -> tuple[dict[str, Any], list[dict[str, float | None]]]:
    """``(best row, sweep)`` of ``pixel_metrics(pred_at(t), truth)`` over the recipe's
    thresholds, best by ``key``."""
    from training.metrics import pixel_metrics

    sweep: list[dict[str, float | None]] = []
    for t in recipe.threshold.values():
        row: dict[str, float | None] = {"threshold": float(t)}
        for k, v in dict(pixel_metrics(pred_at(t), truth)).items():
            row[k] = None if v is None else float(v)  # type: ignore[arg-type]
        sweep.append(row)
    scored = [(float(s[key] or 0.0), s) for s in sweep if s.get(key) is not None]
    if not scored:
        raise RecipeError(f"metric {key!r} of {what} is undefined at every threshold")
    return max(scored, key=lambda pair: pair[0])[1], sweep


def tune_threshold_mixed(recipe: Recipe) -> dict[str, Any]:
    """Sweep the cloud threshold on the whole validation images (pooled pixels, cloud against
    the rest, by the recipe's metric); then, for a model with a shadow output and validation
    images with shadow labels, the shadow threshold where the cloud threshold leaves clear
    (shadow against the rest, by F1: shadow is rare, accuracy would favour none)."""
    from cascade.models import build_fine_model

    cfg, d = recipe.fine, recipe.derive
    gain, offset = gain_offset(recipe)
    model = build_fine_model(
        cfg.architecture,
        cfg.backbone,
        len(recipe.profile),
        d.patch,
        cfg.options,
        classes=len(FINE_CLASSES),
    )
    model.load_weights(recipe.work_dir / "fine.final.weights.h5")
    probs, labels = [], []
    for im in validation_images(recipe):
        h, w = im.labels.shape
        g = SceneGeometry(h, w, patch=d.patch, margin=d.margin, stride=d.stride)
        probs.append(predict_probs(model, im.bands, gain, offset, g).reshape(h * w, -1))
        labels.append(im.labels.ravel())
    prob, label = np.concatenate(probs), np.concatenate(labels)
    nodata = label == NODATA
    cloud_truth = np.where(label == CLOUD, CLOUD, np.where(nodata, NODATA, CLEAR)).astype(np.uint8)
    best, sweep = _sweep(
        recipe,
        lambda t: np.where(prob[:, 0] >= t, CLOUD, CLEAR).astype(np.uint8),
        cloud_truth,
        recipe.threshold.metric,
        "cloud on the validation images",
    )
    result: dict[str, Any] = {
        "threshold": best["threshold"],
        "metric": recipe.threshold.metric,
        "best": best,
        "sweep": sweep,
        "validation": _mix(recipe).validation.describe(),
    }
    shadow = FINE_CLASSES.index("shadow") if "shadow" in FINE_CLASSES else None
    if shadow is not None and prob.shape[1] > shadow and np.any(label == SHADOW):
        not_cloud = prob[:, 0] < float(best["threshold"])
        # Shadow as the positive class (1 in pixel_metrics' terms), everything else 0; pixels
        # of images not annotated for shadow are left out, as No Data.
        shadow_truth = np.where(
            nodata | (label == UNANNOTATED), NODATA, (label == SHADOW).astype(np.uint8)
        )
        s_best, s_sweep = _sweep(
            recipe,
            lambda t: ((prob[:, shadow] >= t) & not_cloud).astype(np.uint8),
            shadow_truth.astype(np.uint8),
            "f1",
            "shadow on the validation images",
        )
        result |= {
            "shadow_threshold": s_best["threshold"],
            "shadow_best": s_best,
            "shadow_sweep": s_sweep,
        }
    (recipe.work_dir / "threshold.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def mix_summary(recipe: Recipe) -> dict[str, Any]:
    """What the sidecars record of the fine model's data."""
    return {"mix": _mix(recipe).describe(), "augment": recipe.augment.to_dict()}
