"""The weighted cross entropies of the coarse model: the paper's Eq. 2, and the form the
shipped pairs were trained with (see :mod:`training.losses` for the whole coarse loss)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# isort: off
from cascade.models import _tf  # noqa: F401  (first: TensorFlow's start-up, quietly)
import keras
import tensorflow as tf

# isort: on

from cascade.classes import CELL_CLASS_NAMES
from cascade.errors import InputArrayError
from training.metrics import CLIP_MIN, N_CLASSES, _per_class_vector

__all__ = [
    "CROSS_ENTROPIES",
    "WeightedCategoricalCrossEntropy",
    "WeightedCrossEntropy",
    "check_prediction",
    "cross_entropy_class",
    "weighted_cross_entropy",
]


def check_prediction(y_pred: tf.Tensor, y_true: tf.Tensor | None = None) -> None:
    """Static shape checks, done when the loss is traced."""
    shape = y_pred.shape
    if shape.rank is not None and (shape.rank != 4 or shape[-1] not in (None, N_CLASSES)):
        raise InputArrayError(
            f"y_pred must be (batch, G, G, {N_CLASSES}) probabilities over {CELL_CLASS_NAMES}; "
            f"got shape {tuple(shape)}"
        )
    if y_true is not None and not y_true.shape.is_compatible_with(shape):
        raise InputArrayError(
            f"y_true must have the shape of y_pred {tuple(shape)}; got {tuple(y_true.shape)}"
        )


# --------------------------------------------------------------------------- cross entropy


class _ClassWeighted(keras.losses.Loss):
    """A cross entropy with per-class weights ``alpha`` (>= 0) and ``beta`` (> 0)."""

    def __init__(
        self,
        alpha: Sequence[float],
        beta: Sequence[float],
        name: str = "weighted_cross_entropy",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = tuple(float(v) for v in _per_class_vector("alpha", alpha, positive=False))
        self.beta = tuple(float(v) for v in _per_class_vector("beta", beta, positive=True))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": list(self.alpha), "beta": list(self.beta)}


@keras.saving.register_keras_serializable(package="cascade_training")
class WeightedCrossEntropy(_ClassWeighted):
    r"""Weighted cross entropy of the coarse model: the paper's Eq. 2 as written.

    .. math::

        L_{wce} = -\sum_k \alpha_k \sum_{i,j} \left[ y_{ijk} \log \hat y_{ijk}
                  + \beta_k (1 - y_{ijk}) \log (1 - \hat y_{ijk}) \right],
        \qquad \hat y = \mathrm{clip}(p, 10^{-7}, 1 - 10^{-7})

    A binary cross entropy per class, summed over the classes: ``beta_k`` weighs the
    *negative* term of class ``k``, the cost of predicting ``k`` where it is not; ``beta_k <
    1`` forgives false positives of ``k`` and leaves its false negatives at full cost, which
    is how the paper "rewards recall" of Partly Cloudy (``alpha = 2, beta = 0.5`` there,
    ``alpha = beta = 1`` for the others). ``alpha_k`` weighs both terms of class ``k``.

    One deliberate difference: the sum over the ``m x n`` cells is a mean (per image, then
    over images), so that the loss does not grow with the grid and learning rates carry over
    between grid sizes; it is the paper's value divided by ``m n``. The paper's remark that
    the ``alpha_k`` sum to 1 is not enforced (its own weights, 2 and 1, do not).
    """

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Per-image mean over cells, shape ``(batch,)``."""
        check_prediction(y_pred, y_true)
        p = tf.clip_by_value(y_pred, CLIP_MIN, 1.0 - CLIP_MIN)
        y = tf.cast(y_true, p.dtype)
        known = tf.cast(y >= 0.0, p.dtype)  # a negative target: an output this cell skips
        y = y * known
        alpha = tf.constant(self.alpha, dtype=p.dtype)
        beta = tf.constant(self.beta, dtype=p.dtype)
        terms = known * (y * tf.math.log(p) + beta * (1.0 - y) * tf.math.log(1.0 - p))
        per_cell = -tf.reduce_sum(alpha * terms, axis=-1)
        return tf.reduce_mean(per_cell, axis=[1, 2])


@keras.saving.register_keras_serializable(package="cascade_training")
class WeightedCategoricalCrossEntropy(_ClassWeighted):
    r"""A categorical cross entropy with class weights ``alpha_k * beta_k`` (not the paper's).

    .. math::

        L = -\frac{1}{N} \sum_{cells} \sum_{k} \alpha_k \, y_k \,
            \log\left(\hat p_k^{\,\beta_k}\right),
        \qquad \hat p_k = \mathrm{clip}(p_k, 10^{-7}, 1)

    Our earlier reading of Eq. 2, written before the paper's text was at hand: only the
    labelled class's term, so ``beta_k`` acts as a second class weight and ``beta_k < 1``
    *lowers* the cost of missing class ``k``. Kept under this name because the shipped model
    pairs were trained with it (their recipes select it: ``cross_entropy =
    "weighted-categorical"``, the recipe default); with every ``beta = 1`` it is the usual
    class-weighted categorical cross entropy.
    """

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Per-image mean over cells, shape ``(batch,)``."""
        check_prediction(y_pred, y_true)
        p = tf.clip_by_value(y_pred, CLIP_MIN, 1.0)
        weights = tf.constant(
            [a * b for a, b in zip(self.alpha, self.beta, strict=True)], dtype=p.dtype
        )
        per_cell = -tf.reduce_sum(weights * tf.cast(y_true, p.dtype) * tf.math.log(p), axis=-1)
        return tf.reduce_mean(per_cell, axis=[1, 2])


# The cross entropies a coarse loss can use, by the name recipes give them.
CROSS_ENTROPIES: dict[str, type[_ClassWeighted]] = {
    "eq2": WeightedCrossEntropy,
    "weighted-categorical": WeightedCategoricalCrossEntropy,
}


def cross_entropy_class(name: str) -> type[_ClassWeighted]:
    try:
        return CROSS_ENTROPIES[name]
    except KeyError:
        raise InputArrayError(
            f"unknown cross entropy {name!r}; expected one of {', '.join(CROSS_ENTROPIES)}"
        ) from None


def weighted_cross_entropy(
    alpha: Sequence[float], beta: Sequence[float], form: str = "eq2"
) -> keras.losses.Loss:
    """A weighted cross entropy as a Keras loss: ``form`` ``"eq2"`` (the paper's,
    :class:`WeightedCrossEntropy`) or ``"weighted-categorical"``
    (:class:`WeightedCategoricalCrossEntropy`)."""
    return cross_entropy_class(form)(alpha, beta)
