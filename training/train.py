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

import csv
import json
import logging
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.errors import DeriveError, RecipeError
from training.derive import open_set
from training.feed import coarse_samples, fine_samples, indices, train_and_val
from training.recipe import CoarseConfig, FineConfig, FitConfig, Recipe

__all__ = ["train_coarse", "train_fine", "tune_threshold"]

log = logging.getLogger(__name__)


def _optimizer(cfg: FitConfig, learning_rate: float | None = None) -> Any:
    import keras

    lr: Any = learning_rate if learning_rate is not None else cfg.learning_rate
    if cfg.schedule == "cosine" and cfg.steps_per_epoch:
        lr = keras.optimizers.schedules.CosineDecay(
            lr, cfg.epochs * cfg.steps_per_epoch, alpha=0.02
        )
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
    recompile: bool = True,
    extra_callbacks: Sequence[Any] = (),
    fingerprint: str = "",
    restart: bool = False,
    validation_steps: int | None = None,
) -> dict[str, Any]:
    """Compile and fit with best-epoch checkpoints, early stopping, resume and a history.

    ``recompile=False`` continues with the model's compiled loss, metrics and optimiser (its
    momentum included) and only sets the learning rate: Keras keeps its traced train and test
    steps, which saves a full trace (seconds per model) between training stages.

    ``fingerprint`` (the recipe's SHA-256) ties the stage's files to the recipe: run again
    after an interruption, a stage that finished with the same recipe loads its best weights
    and is not retrained, an interrupted one resumes from its last epoch (Keras
    ``BackupAndRestore``: weights, optimiser state, epoch), and a changed recipe (or
    ``restart``) starts over.
    """
    best = work / f"{name}.best.weights.h5"
    _compile(model, cfg, loss, metrics, learning_rate, recompile)
    steps = cfg.steps_per_epoch or max(1, -(-n_train // cfg.batch_size))
    files = _StageFiles(work, name)
    fingerprint_ok = bool(fingerprint) and not restart
    if fingerprint_ok:
        previous = files.finished(fingerprint)
        if previous is not None:
            # This stage finished with the same recipe (an interrupted `train all` run again):
            # its best weights stand.
            log.info("%s: already trained with this recipe; loading %s", name, best)
            model.load_weights(best)
            return {**previous, "reused": True}
    resuming, initial, best_so_far = _start(model, train, steps, files, fingerprint, fingerprint_ok)
    callbacks = [
        *_callbacks(files, cfg, best_so_far),
        *extra_callbacks,
    ]
    # With steps_per_epoch set (quick runs), validation is capped to the same many batches
    # unless validation_steps says otherwise.
    val_steps = validation_steps or cfg.validation_steps or cfg.steps_per_epoch
    model.fit(
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
    epochs_done = _read_history_csv(files.csv)  # every epoch, the interrupted attempts' too
    history = {
        "initial": {k: float(v) for k, v in initial.items()},
        "final": {k: float(v) for k, v in final.items()},
        "epochs": {k: v for k, v in epochs_done.items() if k != "epoch"},
        "resumed": resuming,
        "fingerprint": fingerprint,
        "best_weights": str(best),
    }
    files.history.write_text(json.dumps(history, indent=2) + "\n")
    return history


def _compile(
    model: Any,
    cfg: FitConfig,
    loss: Any,
    metrics: list[Any],
    learning_rate: float | None,
    recompile: bool,
) -> None:
    """Compile the model for a stage, or (``recompile=False``) only set its learning rate."""
    if recompile:
        # XLA ("auto" picks it on TensorFlow) compiles for minutes here and then runs slower on
        # this CPU than plain graphs.
        optimizer = _optimizer(cfg, learning_rate)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=False)
        # Creating the optimiser's slots now, not inside the first traced step, spares
        # TensorFlow a second trace of the whole train step (measured: 9.4 s -> 5.6 s for a
        # U-Net/resnet18).
        optimizer.build(model.trainable_variables)
    else:
        model.optimizer.learning_rate = (
            learning_rate if learning_rate is not None else cfg.learning_rate
        )


class _StageFiles:
    """The files of one training stage in the work folder."""

    def __init__(self, work: Path, name: str) -> None:
        self.name = name
        self.best = work / f"{name}.best.weights.h5"
        self.backup = work / f"{name}.backup"
        self.csv = work / f"{name}.history.csv"
        self.initial = work / f"{name}.initial.json"
        self.history = work / f"{name}.history.json"

    def finished(self, fingerprint: str) -> dict[str, Any] | None:
        """The history of a finished run of this stage with ``fingerprint``, else None."""
        if self.history.exists() and self.best.exists() and not self.backup.exists():
            previous: dict[str, Any] = json.loads(self.history.read_text())
            if previous.get("fingerprint") == fingerprint:
                return previous
        return None

    def clear(self) -> None:
        for stale in (self.backup, self.csv, self.initial, self.best):
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()


def _start(
    model: Any, train: Any, steps: int, files: _StageFiles, fingerprint: str, fingerprint_ok: bool
) -> tuple[bool, dict[str, Any], float]:
    """``(resuming, initial evaluation, best val_loss so far)``: resume or start afresh."""
    started = json.loads(files.initial.read_text()) if files.initial.exists() else {}
    resuming = (
        fingerprint_ok
        and files.backup.exists()
        and files.csv.exists()
        and started.get("fingerprint") == fingerprint
    )
    if resuming:
        # An interrupted run: BackupAndRestore puts back the weights, optimiser and epoch; the
        # history and the "before" evaluation are those of the first attempt.
        done = _read_history_csv(files.csv)
        log.info("%s: resuming after epoch %d", files.name, len(done.get("epoch", [])))
        return True, started["initial"], min(done.get("val_loss", [np.inf]), default=np.inf)
    files.clear()
    initial = model.evaluate(train, steps=steps, verbose=0, return_dict=True)
    record = {"fingerprint": fingerprint, "initial": {k: float(v) for k, v in initial.items()}}
    files.initial.write_text(json.dumps(record) + "\n")
    return False, initial, np.inf


def _callbacks(files: _StageFiles, cfg: FitConfig, best_so_far: float) -> list[Any]:
    import keras

    return [
        keras.callbacks.ModelCheckpoint(
            files.best,
            monitor="val_loss",
            save_best_only=True,
            save_weights_only=True,
            # After a resume only an epoch better than every earlier one replaces the best.
            initial_value_threshold=None if np.isinf(best_so_far) else float(best_so_far),
        ),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience),
        keras.callbacks.CSVLogger(files.csv, append=True),
        keras.callbacks.BackupAndRestore(files.backup),
    ]


# Batch norm's running statistics in training: keras-applications' MobileNetV2 uses momentum
# 0.999, so after a few hundred steps its running means are still ~70 % initial values and
# inference-mode outputs are poor; 0.9 follows the weights within tens of steps. It only
# changes training (inference uses the statistics, not the momentum).
BN_MOMENTUM = 0.9


def _bn_momentum(model: Any, momentum: float = BN_MOMENTUM) -> None:
    import keras

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = min(layer.momentum, momentum)


def _read_history_csv(path: Path) -> dict[str, list[float]]:
    """Columns of a Keras CSVLogger file as floats ({} when the file is missing)."""
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


def _fingerprint(recipe: Recipe, training_set: Path) -> str:
    """What a stage's files are tied to: the recipe text and the training set file."""
    st = training_set.stat()
    return f"{recipe.sha256}:{st.st_size}:{st.st_mtime_ns}"


def _seed(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def _set_header(path: Path, kind: str) -> tuple[int, int, int, int]:
    """(training samples, bands, sample side, label side) of a set with non-empty train and
    val splits."""
    with open_set(path, kind) as h5:
        n_train = indices(h5, "train", str(path)).size
        indices(h5, "val", str(path))
        return n_train, len(json.loads(h5.attrs["bands"])), h5["x"].shape[1], h5["y"].shape[1]


def _init_weights(
    model: Any, recipe: Recipe, fingerprint: str, role: str = "coarse"
) -> tuple[str, str]:
    """Load the ``[coarse]`` (or ``[fine]``) ``init_weights`` into ``model``: their path, and
    the stage fingerprint extended with the file's identity (new weights retrain the stages)."""
    given = recipe.coarse.init_weights if role == "coarse" else recipe.fine.init_weights
    init = (recipe.path.parent / str(given)).resolve()
    if not init.is_file():
        raise RecipeError(
            f"[{role}] init_weights {given!r} (resolved to {init}) does not"
            " exist; train the model it names first or fix the path (relative to the recipe)"
        )
    model.load_weights(init)
    st = init.stat()
    return str(init), f"{fingerprint}:{init}:{st.st_size}:{st.st_mtime_ns}"


def train_coarse(recipe: Recipe, *, restart: bool = False) -> dict[str, Any]:
    """Train the coarse model: WCE, then fine-tuning with the adjacency loss.

    The second stage runs whenever ``finetune_epochs > 0``; with ``gamma = 0`` it continues the
    cross entropy alone at the fine-tuning rate (the control of the loss ablation).
    """
    from cascade.models import build_coarse_model
    from training.losses import StagedCoarseLoss, coarse_accuracy, coarse_loss
    from training.metrics import PAIR_WEIGHT_SETS

    cfg: CoarseConfig = recipe.coarse
    work = recipe.work_dir
    path = work / "coarse.h5"
    n_train, nb, cs, grid = _set_header(path, "coarse")
    _seed(recipe.seed)
    shapes = ((cs, cs, nb), (grid, grid, 4))
    samples: Any = coarse_samples
    if recipe.mix is not None:  # one normalisation for the pair: the mixed sources'
        from training.fine_mix import gain_offset

        samples = partial(coarse_samples, normalization=gain_offset(recipe))
    train, val = train_and_val(samples, path, shapes, cfg, recipe.seed)
    model = build_coarse_model(cfg.backbone, nb)
    _bn_momentum(model)
    finetune = cfg.finetune_epochs > 0
    loss = StagedCoarseLoss(
        coarse_loss(
            cfg.alpha,
            cfg.beta,
            gamma=cfg.gamma,
            pair_weights=PAIR_WEIGHT_SETS[cfg.loss_options["pairs"]],
            mode=cfg.adjacency_mode,
            cross_entropy=cfg.loss_options["cross_entropy"],
            adjacency_form=cfg.loss_options["adjacency_form"],
        )
    )
    metrics = [coarse_accuracy]
    fingerprint = _fingerprint(recipe, path)
    out: dict[str, Any] = {}
    if cfg.init_weights:
        out["init_weights"], fingerprint = _init_weights(model, recipe, fingerprint)
    if cfg.epochs > 0:
        out["wce"] = _fit(
            model,
            "coarse_wce",
            work,
            train,
            val,
            cfg,
            n_train,
            cfg.epochs,
            loss,
            metrics,
            fingerprint=fingerprint,
            restart=restart,
        )
    if finetune:
        loss.with_adjacency.assign(1.0)
        out["adjacency"] = _fit(
            model,
            "coarse_adjacency",
            work,
            train,
            val,
            cfg,
            n_train,
            cfg.finetune_epochs,
            loss,
            metrics,
            # Fine-tuning starts from trained weights: a tenth of the rate unless the recipe
            # says otherwise.
            learning_rate=cfg.finetune_learning_rate or cfg.learning_rate / 10,
            # Continue the first stage's optimiser; from init_weights alone, start one afresh.
            recompile="wce" not in out,
            fingerprint=fingerprint,
            # Weights trained anew in the first stage make an earlier fine-tuning stale.
            restart=restart or ("wce" in out and not out["wce"].get("reused", False)),
        )
    model.save_weights(work / "coarse.final.weights.h5", overwrite=True)
    return out


def train_fine(recipe: Recipe, *, restart: bool = False) -> dict[str, Any]:
    """Train the fine model on the re-weighted windows (or, with ``[mix]``, mixed windows)."""
    import keras

    if recipe.mix is not None:
        from training.fine_mix import train_fine_mixed

        return train_fine_mixed(recipe, restart=restart)

    from cascade.models import build_fine_model

    cfg: FineConfig = recipe.fine
    work = recipe.work_dir
    path = work / "fine.h5"
    n_train, nb, p, _ = _set_header(path, "fine")
    _seed(recipe.seed)
    shapes = ((p, p, nb), (p, p, 3))
    train, val = train_and_val(fine_samples, path, shapes, cfg, recipe.seed)
    model = build_fine_model(cfg.architecture, cfg.backbone, nb, p, cfg.options)
    _bn_momentum(model)
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
        fingerprint=_fingerprint(recipe, path),
        restart=restart,
    )
    model.save_weights(work / "fine.final.weights.h5", overwrite=True)
    return out


def tune_threshold(recipe: Recipe) -> dict[str, Any]:
    """Sweep the fine model's cloud threshold on the validation windows' cores (with
    ``[mix]``: on the whole validation images)."""
    from cascade.models import build_fine_model
    from training.metrics import pixel_metrics

    if recipe.mix is not None:
        from training.fine_mix import tune_threshold_mixed

        return tune_threshold_mixed(recipe)

    work = recipe.work_dir
    path = work / "fine.h5"
    cfg = recipe.fine
    with open_set(path, "fine") as h5:
        nb = len(json.loads(h5.attrs["bands"]))
        p = h5["x"].shape[1]
    model = build_fine_model(cfg.architecture, cfg.backbone, nb, p, cfg.options)
    model.load_weights(work / "fine.final.weights.h5")
    m = recipe.derive.margin
    probs, truths = [], []
    batch_x: list[np.ndarray] = []
    for x, y in fine_samples(path, "val", False, recipe.seed):
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
