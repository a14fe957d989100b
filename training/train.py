"""Training the coarse and fine models from derived sets, threshold tuning, and export.

Each stage reads the HDF5 sets of :mod:`training.derive` through ``tf.data``, trains with the
recipe's optimiser (SGD with momentum 0.9 by default), keeps the best epoch's weights
(validation loss), stops early after ``patience`` epochs without improvement, can resume an
interrupted run (Keras ``BackupAndRestore``), and writes its history as CSV and JSON into the
recipe's work folder:

- ``train_coarse``: weighted cross entropy first, then fine-tuning with the adjacency loss
  (``gamma``), as the paper does;
- ``train_fine``: per-pixel binary cross entropy on the Cloud / Clear / No Data sigmoid outputs;
- ``tune_threshold``: predicts the validation windows once and sweeps the cloud threshold
  (probabilities first, decisions second), keeping the best by the recipe's metric;
- ``export``: the model pair folder the engine loads, sidecars with bands, normalisation,
  geometry, threshold and provenance.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cascade import __version__
from cascade.artifacts import ModelSpec, Normalization
from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.engine import coarse_input
from cascade.kernels import PooledScene
from training.derive import SPLITS, DeriveError, open_set
from training.recipe import CoarseConfig, FineConfig, FitConfig, Recipe

__all__ = ["export", "train_coarse", "train_fine", "tune_threshold"]

log = logging.getLogger(__name__)


def _indices(h5: Any, split: str, path: str) -> np.ndarray:
    idx = np.flatnonzero(h5["split"][:] == SPLITS.index(split))
    if idx.size == 0:
        raise DeriveError(
            f"the {split} split of {path} is empty; derive with more scenes or a larger "
            f"{'val_fraction' if split == 'val' else 'share of training scenes'}"
        )
    return idx


def _norm(h5: Any) -> tuple[np.ndarray, np.ndarray]:
    """(gain, offset) of the training data's standardisation, in reflectance units."""
    mean = np.asarray(h5.attrs["norm_mean"], np.float32)
    std = np.asarray(h5.attrs["norm_std"], np.float32)
    return (1.0 / std).astype(np.float32), (-mean / std).astype(np.float32)


def _coarse_samples(
    path: Path, split: str, shuffle: bool, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    with open_set(path, "coarse") as h5:
        idx = _indices(h5, split, str(path))
        gain, offset = _norm(h5)
        rng = np.random.default_rng(seed)
        order = rng.permutation(idx) if shuffle else idx
        for i in order:
            pooled = PooledScene(h5["x"][i].transpose(2, 0, 1), h5["valid"][i])
            # The same function the engine uses to feed the coarse model.
            yield coarse_input(pooled, gain, offset)[0], h5["y"][i]


def _fine_targets(y: np.ndarray) -> np.ndarray:
    return np.stack([y == CLOUD, y == CLEAR, y == NODATA], axis=-1).astype(np.float32)


def _fine_samples(
    path: Path, split: str, shuffle: bool, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    with open_set(path, "fine") as h5:
        idx = _indices(h5, split, str(path))
        gain, offset = _norm(h5)
        rng = np.random.default_rng(seed)
        order = rng.permutation(idx) if shuffle else idx
        for i in order:
            yield h5["x"][i] * gain + offset, _fine_targets(h5["y"][i])


def _dataset(
    gen: Any,
    path: Path,
    split: str,
    shapes: tuple[tuple[int | None, ...], ...],
    batch: int,
    shuffle: bool,
    seed: int,
    repeat: bool,
) -> Any:
    import tensorflow as tf

    ds = tf.data.Dataset.from_generator(
        lambda: gen(path, split, shuffle, seed),
        output_signature=tuple(tf.TensorSpec(s, tf.float32) for s in shapes),
    )
    if repeat:
        ds = ds.repeat()
    # A fixed batch size (the training set repeats, so nothing is lost) keeps Keras from
    # tracing its train step again for every new batch shape.
    return ds.batch(batch, drop_remainder=repeat).prefetch(2)


def _optimizer(cfg: FitConfig, learning_rate: float | None = None) -> Any:
    import keras

    lr = learning_rate if learning_rate is not None else cfg.learning_rate
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    return keras.optimizers.RMSprop(learning_rate=lr)


def _fit(
    model: Any,
    name: str,
    work: Path,
    train: Any,
    val: Any,
    cfg: FitConfig,
    n_train: int,
    epochs: int,
    loss: Any,
    metrics: list[Any],
    learning_rate: float | None = None,
) -> dict[str, Any]:
    """Compile and fit with best-epoch checkpoints, early stopping, resume and a history."""
    import keras

    best = work / f"{name}.best.weights.h5"
    # XLA ("auto" picks it on TensorFlow) compiles for minutes here and then runs slower on
    # this CPU than plain graphs.
    model.compile(
        optimizer=_optimizer(cfg, learning_rate), loss=loss, metrics=metrics, jit_compile=False
    )
    steps = cfg.steps_per_epoch or max(1, -(-n_train // cfg.batch_size))
    initial = model.evaluate(train, steps=steps, verbose=0, return_dict=True)
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            best, monitor="val_loss", save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience),
        keras.callbacks.CSVLogger(work / f"{name}.history.csv", append=True),
        keras.callbacks.BackupAndRestore(work / f"{name}.backup"),
    ]
    # With steps_per_epoch set (quick runs), validation is capped to the same many batches.
    val_steps = cfg.steps_per_epoch
    hist = model.fit(
        train,
        validation_data=val,
        validation_steps=val_steps,
        epochs=epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=2 if log.isEnabledFor(logging.INFO) else 0,
    )
    if best.exists():
        model.load_weights(best)
    # Evaluated like `initial` (inference mode, same batches): the like-for-like comparison.
    final = model.evaluate(train, steps=steps, verbose=0, return_dict=True)
    history = {
        "initial": {k: float(v) for k, v in initial.items()},
        "final": {k: float(v) for k, v in final.items()},
        "epochs": {k: [float(x) for x in v] for k, v in hist.history.items()},
        "best_weights": str(best),
    }
    (work / f"{name}.history.json").write_text(json.dumps(history, indent=2) + "\n")
    return history


def _seed(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def _set_header(path: Path, kind: str) -> tuple[int, int, int, int]:
    """(training samples, bands, sample side, label side) of a set with non-empty train and
    val splits."""
    with open_set(path, kind) as h5:
        n_train = _indices(h5, "train", str(path)).size
        _indices(h5, "val", str(path))
        return n_train, len(json.loads(h5.attrs["bands"])), h5["x"].shape[1], h5["y"].shape[1]


def train_coarse(recipe: Recipe) -> dict[str, Any]:
    """Train the coarse model: WCE, then fine-tuning with the adjacency loss."""
    from cascade.models import build_coarse_model
    from training.losses import coarse_accuracy, coarse_loss

    cfg: CoarseConfig = recipe.coarse
    work = recipe.work_dir
    path = work / "coarse.h5"
    n_train, nb, cs, grid = _set_header(path, "coarse")
    _seed(recipe.seed)
    shapes = ((cs, cs, nb), (grid, grid, 4))
    train = _dataset(
        _coarse_samples, path, "train", shapes, cfg.batch_size, True, recipe.seed, True
    )
    val = _dataset(_coarse_samples, path, "val", shapes, cfg.batch_size, False, recipe.seed, False)
    model = build_coarse_model(cfg.backbone, nb)
    metrics = [coarse_accuracy]
    out = {
        "wce": _fit(
            model,
            "coarse_wce",
            work,
            train,
            val,
            cfg,
            n_train,
            cfg.epochs,
            coarse_loss(cfg.alpha, cfg.beta, gamma=0.0, mode=cfg.adjacency_mode),
            metrics,
        )
    }
    if cfg.gamma > 0 and cfg.finetune_epochs > 0:
        out["adjacency"] = _fit(
            model,
            "coarse_adjacency",
            work,
            train,
            val,
            cfg,
            n_train,
            cfg.finetune_epochs,
            coarse_loss(cfg.alpha, cfg.beta, gamma=cfg.gamma, mode=cfg.adjacency_mode),
            metrics,
            # Fine-tuning starts from trained weights: a tenth of the rate unless the recipe
            # says otherwise.
            learning_rate=cfg.finetune_learning_rate or cfg.learning_rate / 10,
        )
    model.save_weights(work / "coarse.final.weights.h5", overwrite=True)
    return out


def train_fine(recipe: Recipe) -> dict[str, Any]:
    """Train the fine model on the re-weighted windows."""
    import keras

    from cascade.models import build_fine_model

    cfg: FineConfig = recipe.fine
    work = recipe.work_dir
    path = work / "fine.h5"
    n_train, nb, p, _ = _set_header(path, "fine")
    _seed(recipe.seed)
    shapes = ((p, p, nb), (p, p, 3))
    train = _dataset(_fine_samples, path, "train", shapes, cfg.batch_size, True, recipe.seed, True)
    val = _dataset(_fine_samples, path, "val", shapes, cfg.batch_size, False, recipe.seed, False)
    model = build_fine_model(cfg.architecture, cfg.backbone, nb, p)
    out = _fit(
        model,
        "fine",
        work,
        train,
        val,
        cfg,
        n_train,
        cfg.epochs,
        keras.losses.BinaryCrossentropy(),
        [keras.metrics.BinaryAccuracy()],
    )
    model.save_weights(work / "fine.final.weights.h5", overwrite=True)
    return out


def tune_threshold(recipe: Recipe) -> dict[str, Any]:
    """Sweep the fine model's cloud threshold on the validation windows' cores."""
    from cascade.models import build_fine_model
    from training.losses import pixel_metrics

    work = recipe.work_dir
    path = work / "fine.h5"
    cfg = recipe.fine
    with open_set(path, "fine") as h5:
        nb = len(json.loads(h5.attrs["bands"]))
        p = h5["x"].shape[1]
    model = build_fine_model(cfg.architecture, cfg.backbone, nb, p)
    model.load_weights(work / "fine.final.weights.h5")
    m = recipe.derive.margin
    probs, truths = [], []
    batch_x: list[np.ndarray] = []
    for x, y in _fine_samples(path, "val", False, recipe.seed):
        batch_x.append(x)
        # Targets back to codes: cloud 1, clear 0, no data 255.
        truths.append(
            np.where(y[..., 2] > 0, NODATA, np.where(y[..., 0] > 0, CLOUD, CLEAR))[
                m : p - m, m : p - m
            ].astype(np.uint8)
        )
        if len(batch_x) == cfg.batch_size:
            probs.append(np.asarray(model(np.stack(batch_x), training=False))[..., 0])
            batch_x = []
    if batch_x:
        probs.append(np.asarray(model(np.stack(batch_x), training=False))[..., 0])
    prob = np.concatenate(probs)[:, m : p - m, m : p - m]
    truth = np.stack(truths)
    sweep = []
    for t in recipe.threshold.values():
        pred = np.where(prob >= t, CLOUD, CLEAR).astype(np.uint8)
        row = pixel_metrics(pred, truth)
        entry: dict[str, float | None] = {"threshold": float(t)}
        for k, v in dict(row).items():
            entry[k] = None if v is None else float(v)  # type: ignore[arg-type]
        sweep.append(entry)
    key = recipe.threshold.metric
    scored = [(float(s[key] or 0.0), s) for s in sweep if s.get(key) is not None]
    if not scored:
        raise DeriveError(f"metric {key!r} is undefined on every threshold (no cloud in val?)")
    best = max(scored, key=lambda pair: pair[0])[1]
    result = {"threshold": best["threshold"], "metric": key, "best": best, "sweep": sweep}
    (work / "threshold.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def export(recipe: Recipe, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write the model pair folder (weights + sidecars) for the engine."""
    from cascade.models import build_coarse_model, build_fine_model, save_model

    work = recipe.work_dir
    with open_set(work / "fine.h5", "fine") as h5:
        bands = tuple(json.loads(h5.attrs["bands"]))
        mean = [float(v) for v in h5.attrs["norm_mean"]]
        std = [float(v) for v in h5.attrs["norm_std"]]
        data_summary = {
            "scenes": json.loads(h5.attrs["scene_splits"]),
            "fine_samples": int(h5["x"].shape[0]),
        }
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
    }
    coarse_spec = ModelSpec(
        role="coarse", architecture="coarse-encoder", backbone=recipe.coarse.backbone, **common
    )
    fine_spec = ModelSpec(
        role="fine",
        architecture=recipe.fine.architecture,
        backbone=recipe.fine.backbone,
        threshold=float(tuned["threshold"]),
        **common,
    )
    coarse = build_coarse_model(recipe.coarse.backbone, len(bands))
    coarse.load_weights(work / "coarse.final.weights.h5")
    fine = build_fine_model(recipe.fine.architecture, recipe.fine.backbone, len(bands), d.patch)
    fine.load_weights(work / "fine.final.weights.h5")
    out = Path(out_dir)
    save_model(coarse, coarse_spec, out, overwrite=overwrite)
    save_model(fine, fine_spec, out, overwrite=overwrite)
    return out
