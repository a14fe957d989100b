"""Losses and metrics of the coarse model, with numpy references to test them against.

The coarse model maps a scene to a ``G x G`` grid of cells and gives each cell softmax
probabilities over the four classes of :mod:`cascade.classes` (Overcast, Partly Cloudy,
Cloudless, No Data, in that channel order). Its training loss follows Luotamo, Metsämäki and
Klami, "Multi-scale cloud detection in remote sensing images using a dual convolutional neural
network" (IEEE TGRS 2021, arXiv:2006.00836):

* a weighted cross entropy (the paper's Eq. 2), :func:`weighted_cross_entropy`;
* an *adjacency* loss (Eqs. 3-6), :func:`adjacency_loss`: an Overcast cell should never touch a
  Cloudless one (a cloud's edge lies in a Partly Cloudy cell between them), so the loss
  penalises predicted grids in which such a pair of classes is adjacent;
* their sum, :func:`coarse_loss`. The paper's recipe trains with the cross entropy alone
  (``gamma = 0``) and then fine-tunes with ``gamma = 1``.

Provenance. Only the paper's abstract and introduction could be consulted when this module was
written; the text of Eqs. 2-6 was not available. The definitions below are therefore *our
reading* of the losses as described (12 two-by-two kernels over a pair of class channels, a
count of the positions where a kernel's response is 2, a relaxation by
``ReLU(conv - (1 + epsilon))`` with ``epsilon = 0.001``, a ``sign()``-based one-hot of the
predictions, pair weights 0.75 / 0.125 / 0.125). Each docstring says which parts are ours:
the exact form of the cross entropy's ``beta``, the normaliser of ``S_dn`` and the two pairs
that share the 0.125 weight. Check them against the published equations before relying on
numbers comparable to the paper's.

Shapes: ``y_true`` is one-hot and ``y_pred`` holds probabilities, both ``(batch, H, W, 4)``
float32 (``H = W = G`` for the coarse model). Every loss here is a :class:`keras.losses.Loss`:
called as ``loss(y_true, y_pred)`` it returns a scalar tensor; ``sample_weight`` takes one
weight per image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

# isort: off
from cascade.models import _tf  # noqa: F401  (first: TensorFlow's start-up, quietly)
import keras
import tensorflow as tf

# isort: on
import numpy as np

from cascade.classes import CELL_CLASS_NAMES, CLOUDLESS, OVERCAST
from cascade.errors import InputArrayError

__all__ = [
    "AdjacencyLoss",
    "CoarseLoss",
    "SdnMetric",
    "StagedCoarseLoss",
    "WeightedCrossEntropy",
    "adjacency_count_tf",
    "adjacency_loss",
    "coarse_accuracy",
    "coarse_loss",
    "relaxed_adjacency",
    "weighted_cross_entropy",
]

from training.metrics import (
    CLIP_MIN,
    DEFAULT_EPSILON,
    N_CLASSES,
    AdjacencyMode,
    Pair,
    _check_mode,
    _check_pair,
    _check_pair_weights,
    _check_scalar,
    _per_class_vector,
    adjacency_kernels,
)

# Exact one-hot responses are 0, 1 or 2; any threshold strictly between 1 and 2 picks the 2s
# without asking float arithmetic for equality.
_HIT_THRESHOLD: Final = 1.5


def _check_prediction(y_pred: tf.Tensor, y_true: tf.Tensor | None = None) -> None:
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


@keras.saving.register_keras_serializable(package="cascade_training")
class WeightedCrossEntropy(keras.losses.Loss):
    r"""Weighted cross entropy of the coarse model (the paper's Eq. 2, in our reading).

    .. math::

        L_{WCE} = -\frac{1}{N} \sum_{cells} \sum_{k} \alpha_k \, y_k \,
                  \log\left(\hat p_k^{\,\beta_k}\right),
        \qquad \hat p_k = \mathrm{clip}(p_k, 10^{-7}, 1)

    averaged over the ``N`` cells of the batch (per image, then over images: every image has
    the same number of cells). ``alpha_k`` weighs class ``k``'s term; the paper describes
    ``beta_k < 1`` as rewarding recall of class ``k``.

    Our reading: the paper's equation was not available, and this is the form the project
    specified for that case. Note that ``log(p ** beta) = beta * log(p)``, so in this form
    ``beta_k`` acts as a second per-class weight (the effective weight is
    ``alpha_k * beta_k``) and ``beta_k < 1`` *lowers* the penalty on missed class-``k``
    cells, which does not by itself reward recall. If the published Eq. 2 differs, change
    :meth:`call` and :func:`weighted_cross_entropy_numpy` together.

    Args:
        alpha: four weights ``>= 0``, one per class in :data:`cascade.classes` order.
        beta: four exponents ``> 0``.
    """

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
        self._weight_vector = tf.constant(
            [a * b for a, b in zip(self.alpha, self.beta, strict=True)], dtype=tf.float32
        )

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Per-image mean over cells, shape ``(batch,)``."""
        _check_prediction(y_pred, y_true)
        p = tf.clip_by_value(y_pred, CLIP_MIN, 1.0)
        weights = tf.cast(self._weight_vector, p.dtype)
        per_cell = -tf.reduce_sum(weights * tf.cast(y_true, p.dtype) * tf.math.log(p), axis=-1)
        return tf.reduce_mean(per_cell, axis=[1, 2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": list(self.alpha), "beta": list(self.beta)}


def weighted_cross_entropy(alpha: Sequence[float], beta: Sequence[float]) -> WeightedCrossEntropy:
    """The weighted cross entropy as a Keras loss; see :class:`WeightedCrossEntropy`."""
    return WeightedCrossEntropy(alpha, beta)


# --------------------------------------------------------------------------- adjacency


def _pair_response(maps: tf.Tensor, pair: Pair) -> tf.Tensor:
    """``(batch, H - 1, W - 1, 12)`` responses of the kernels to channels A and B of ``maps``."""
    a, b = pair
    two = tf.stack([maps[..., a], maps[..., b]], axis=-1)
    kernels = tf.constant(adjacency_kernels(), dtype=two.dtype)
    return tf.nn.conv2d(two, kernels, strides=1, padding="VALID")


def _window_count(maps: tf.Tensor) -> tf.Tensor:
    """``4 (H - 1)(W - 1)`` of ``maps`` as a float tensor (works with dynamic shapes)."""
    shape = tf.shape(maps)
    return tf.cast(4 * (shape[1] - 1) * (shape[2] - 1), maps.dtype)


def adjacency_count_tf(onehot: tf.Tensor | np.ndarray, pair: Sequence[int]) -> tf.Tensor:
    """``S_d`` of an exact one-hot ``(batch, H, W, C)`` tensor by convolution (int64 scalar).

    Counts the (window, kernel) positions whose response is 2, summed over the batch; agrees
    with :func:`adjacency_count`. Not differentiable (it is a count).
    """
    p = _check_pair(pair)
    x = tf.convert_to_tensor(onehot, dtype=tf.float32)
    if x.shape.rank != 4:
        raise InputArrayError(f"onehot must be (batch, H, W, C); got shape {tuple(x.shape)}")
    return tf.math.count_nonzero(_pair_response(x, p) > _HIT_THRESHOLD, dtype=tf.int64)


def _as_indicator(y_pred: tf.Tensor, mode: AdjacencyMode) -> tf.Tensor:
    """The maps the relaxed score is computed on; see :class:`AdjacencyLoss` for the modes."""
    if mode == "soft":
        return y_pred
    if mode == "literal":
        # 1 + sign(p - max p) is 1 on the arg-max class and 0 elsewhere (ties: all 1), built
        # from sign() as the paper does; sign's gradient is zero, so nothing flows back.
        return 1.0 + tf.sign(y_pred - tf.reduce_max(y_pred, axis=-1, keepdims=True))
    hard = tf.one_hot(tf.argmax(y_pred, axis=-1), tf.shape(y_pred)[-1], dtype=y_pred.dtype)
    # Straight-through: the forward value is the hard one-hot, the backward pass is identity.
    return y_pred + tf.stop_gradient(hard - y_pred)


def _relaxed_per_image(
    y_pred: tf.Tensor, pair: Pair, mode: AdjacencyMode, epsilon: float
) -> tf.Tensor:
    maps = _as_indicator(y_pred, mode)
    excess = tf.nn.relu(_pair_response(maps, pair) - (1.0 + epsilon))
    return tf.reduce_sum(excess, axis=[1, 2, 3]) / _window_count(maps)


def relaxed_adjacency(
    y_pred: tf.Tensor | np.ndarray,
    pair: Sequence[int],
    mode: str = "soft",
    epsilon: float = DEFAULT_EPSILON,
) -> tf.Tensor:
    r"""Relaxed, normalised adjacency score of a prediction (float scalar, batch mean).

    .. math::

        S_{rn} = \frac{1}{4 (H-1)(W-1)} \sum_{n=1}^{12} \sum_{i,j}
                 \mathrm{ReLU}\left( (K_n * [M_A, M_B])_{ij} - (1 + \epsilon) \right)

    with the maps ``M`` chosen by ``mode`` (see :class:`AdjacencyLoss`) and the same divisor as
    :func:`normalized_adjacency`. On an exact one-hot grid the response is 0, 1 or 2 and only
    the 2s pass the ReLU, each contributing ``1 - epsilon``, so ``S_rn = (1 - epsilon) S_dn``.
    On probabilities ``S_rn`` also lies in ``[0, 1 - epsilon]`` (it is convex in the maps, so
    its maximum is at a one-hot grid).
    """
    p = _check_pair(pair)
    m = _check_mode(mode)
    eps = _check_scalar("epsilon", epsilon, low=0.0, high=1.0)
    x = tf.convert_to_tensor(y_pred, dtype=tf.float32)
    _check_prediction(x)
    return tf.reduce_mean(_relaxed_per_image(x, p, m, eps))


@keras.saving.register_keras_serializable(package="cascade_training")
class AdjacencyLoss(keras.losses.Loss):
    r"""Adjacency loss of the coarse model (the paper's Eqs. 3-6, in our reading).

    .. math::

        L_{adj} = \gamma \sum_{(A,B)} w_{(A,B)} \, S_{rn}(M; A, B)

    where :math:`S_{rn}` is :func:`relaxed_adjacency` of the predicted maps ``M``: a penalty
    for every 2x2 window in which a cell confidently predicted A touches one confidently
    predicted B. ``y_true`` is only checked for shape: the loss constrains the prediction's
    layout, not its agreement with the labels (ground truth never has such adjacencies).
    Default weights :data:`DEFAULT_PAIR_WEIGHTS`: (Overcast, Cloudless) 0.75 as in the paper,
    and 0.125 for (Overcast, No Data) and (Cloudless, No Data), which are our reading of the
    paper's "other two pairs".

    Modes (which maps ``M`` the score sees):

    * ``"literal"``: the paper's ``sign()``-based one-hot, in our reading
      ``M = 1 + sign(p - max_k p_k)`` (1 on the arg-max class, 0 elsewhere). Its value is exact,
      but ``sign`` has zero gradient, so used as a loss it trains nothing; kept for reference
      and for monitoring.
    * ``"soft"`` (default): ``M = p``, the probabilities themselves. The response of a window
      is ``p_A + p_B`` of the two cells, so the ReLU fires where ``p_A + p_B > 1 + epsilon``
      (both cells fairly confident) and its gradient pushes ``p_A`` and ``p_B`` of those cells
      down. Windows with no confident pair contribute no loss and no gradient.
    * ``"ste"``: straight-through, ``M = p + stop_gradient(onehot(argmax p) - p)``: the value
      of ``"literal"`` (without its tie rule), the gradient of ``"soft"`` evaluated at the hard
      one-hot.

    Args:
        pair_weights: ``{(A, B): weight >= 0}``; a pair and its reverse are the same pair.
        gamma: overall weight ``>= 0``.
        mode: ``"soft"``, ``"literal"`` or ``"ste"``.
        epsilon: margin in ``[0, 1)``; the paper uses 0.001.
    """

    def __init__(
        self,
        pair_weights: Mapping[Pair, float] | None = None,
        gamma: float = 1.0,
        mode: str = "soft",
        epsilon: float = DEFAULT_EPSILON,
        name: str = "adjacency_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.pair_weights = _check_pair_weights(pair_weights)
        self.gamma = _check_scalar("gamma", gamma, low=0.0)
        self.mode: AdjacencyMode = _check_mode(mode)
        self.epsilon = _check_scalar("epsilon", epsilon, low=0.0, high=1.0)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Per-image weighted score, shape ``(batch,)``."""
        _check_prediction(y_pred, y_true)
        total = tf.zeros(tf.shape(y_pred)[:1], dtype=y_pred.dtype)
        for pair, weight in self.pair_weights.items():
            if weight:
                total += weight * _relaxed_per_image(y_pred, pair, self.mode, self.epsilon)
        return self.gamma * total

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            # JSON has no tuple keys: the weights travel as [A, B, weight] triples.
            "pair_weights": [[a, b, w] for (a, b), w in self.pair_weights.items()],
            "gamma": self.gamma,
            "mode": self.mode,
            "epsilon": self.epsilon,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AdjacencyLoss:
        config = dict(config)
        config["pair_weights"] = {(int(a), int(b)): w for a, b, w in config["pair_weights"]}
        return cls(**config)


def adjacency_loss(
    pair_weights: Mapping[Pair, float] | None = None,
    gamma: float = 1.0,
    mode: str = "soft",
    epsilon: float = DEFAULT_EPSILON,
) -> AdjacencyLoss:
    """The adjacency loss as a Keras loss; see :class:`AdjacencyLoss`."""
    return AdjacencyLoss(pair_weights=pair_weights, gamma=gamma, mode=mode, epsilon=epsilon)


@keras.saving.register_keras_serializable(package="cascade_training")
class CoarseLoss(keras.losses.Loss):
    r"""Training loss of the coarse model: ``L = L_WCE + L_adj`` (with ``gamma`` in ``L_adj``).

    .. math::

        L = L_{WCE}(\alpha, \beta) + \gamma \sum_{(A,B)} w_{(A,B)} \, S_{rn}(A, B)

    ``gamma = 0`` is the plain weighted cross entropy (the adjacency term is not computed);
    the paper trains so first and then fine-tunes with ``gamma = 1``. Arguments as in
    :class:`WeightedCrossEntropy` and :class:`AdjacencyLoss`.
    """

    def __init__(
        self,
        alpha: Sequence[float],
        beta: Sequence[float],
        gamma: float = 0.0,
        pair_weights: Mapping[Pair, float] | None = None,
        mode: str = "soft",
        epsilon: float = DEFAULT_EPSILON,
        name: str = "coarse_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.wce = WeightedCrossEntropy(alpha, beta, dtype=dtype)
        self.adjacency = AdjacencyLoss(pair_weights, gamma, mode, epsilon, dtype=dtype)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Per-image loss, shape ``(batch,)``."""
        loss = self.wce.call(y_true, y_pred)
        if self.adjacency.gamma:
            loss += self.adjacency.call(y_true, y_pred)
        return loss

    def get_config(self) -> dict[str, Any]:
        adj = self.adjacency.get_config()
        return {
            **super().get_config(),
            "alpha": list(self.wce.alpha),
            "beta": list(self.wce.beta),
            **{k: adj[k] for k in ("gamma", "pair_weights", "mode", "epsilon")},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CoarseLoss:
        config = dict(config)
        config["pair_weights"] = {(int(a), int(b)): w for a, b, w in config["pair_weights"]}
        return cls(**config)


class StagedCoarseLoss(keras.losses.Loss):
    """A :class:`CoarseLoss` whose adjacency term is switched on by a variable.

    The paper's two coarse stages (weighted cross entropy, then fine-tuning with the adjacency
    loss) can then share one compiled model: ``with_adjacency`` is 0 for the first stage and
    is set to 1 for the second, and Keras keeps its traced train and test steps (a retrace of a
    ResNet-18 train step costs ~4 s on two cores). With ``with_adjacency = 1`` the value equals
    ``loss``'s.
    """

    def __init__(self, loss: CoarseLoss, name: str = "coarse_loss") -> None:
        super().__init__(name=name, reduction=loss.reduction)
        self.loss = loss
        self.with_adjacency = tf.Variable(0.0, trainable=False, name="with_adjacency")

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Per-image loss, shape ``(batch,)``."""
        total = self.loss.wce.call(y_true, y_pred)
        if self.loss.adjacency.gamma:
            total += self.with_adjacency * self.loss.adjacency.call(y_true, y_pred)
        return total


def coarse_loss(
    alpha: Sequence[float],
    beta: Sequence[float],
    gamma: float = 0.0,
    pair_weights: Mapping[Pair, float] | None = None,
    mode: str = "soft",
    epsilon: float = DEFAULT_EPSILON,
) -> CoarseLoss:
    """Weighted cross entropy plus adjacency loss as a Keras loss; see :class:`CoarseLoss`."""
    return CoarseLoss(alpha, beta, gamma, pair_weights, mode, epsilon)


# --------------------------------------------------------------------------- metrics


def coarse_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Fraction of cells whose predicted class (arg-max) is the labelled one, per image.

    Returns shape ``(batch,)``; Keras averages it over images when given as a metric
    (``metrics=[coarse_accuracy]``). Every image has the same number of cells, so that mean is
    the accuracy over all cells.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.convert_to_tensor(y_true)
    _check_prediction(y_pred, y_true)
    hit = tf.equal(tf.argmax(y_true, axis=-1), tf.argmax(y_pred, axis=-1))
    return tf.reduce_mean(tf.cast(hit, tf.float32), axis=[1, 2])


@keras.saving.register_keras_serializable(package="cascade_training")
class SdnMetric(keras.metrics.Metric):
    r"""Discrete normalised adjacency ``S_dn`` of the arg-max prediction, over all batches seen.

    .. math::

        \mathrm{result} = \sum_{(A,B)} w_{(A,B)} \,
            \frac{\sum_{batches} S_d(\mathrm{onehot}(\arg\max p); A, B)}
                 {\sum_{batches} \mathrm{batch} \cdot 4 (H-1)(W-1)}

    With the default ``pair_weights={(OVERCAST, CLOUDLESS): 1.0}`` it is the fraction of the
    possible Overcast/Cloudless adjacencies the model predicts (0 is the goal);
    :data:`DEFAULT_PAIR_WEIGHTS` gives the loss's weighting. ``y_true`` and ``sample_weight``
    are ignored. Ties in the arg-max go to the lower class index.
    """

    def __init__(
        self,
        pair_weights: Mapping[Pair, float] | None = None,
        name: str = "sdn",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.pair_weights = _check_pair_weights(
            {(OVERCAST, CLOUDLESS): 1.0} if pair_weights is None else pair_weights
        )
        self._pairs = tuple(self.pair_weights)
        self._weight_vector = tf.constant([self.pair_weights[p] for p in self._pairs], tf.float32)
        self.hits = self.add_variable(
            shape=(len(self._pairs),), initializer="zeros", dtype="float32", name="hits"
        )
        self.capacity = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="capacity"
        )

    def update_state(
        self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: tf.Tensor | None = None
    ) -> None:
        del y_true, sample_weight  # the score looks at the prediction's layout only
        y_pred = tf.convert_to_tensor(y_pred, dtype=tf.float32)
        _check_prediction(y_pred)
        hard = tf.one_hot(tf.argmax(y_pred, axis=-1), tf.shape(y_pred)[-1], dtype=tf.float32)
        hits = [
            tf.reduce_sum(tf.cast(_pair_response(hard, p) > _HIT_THRESHOLD, tf.float32))
            for p in self._pairs
        ]
        self.hits.assign_add(tf.stack(hits))
        self.capacity.assign_add(tf.cast(tf.shape(hard)[0], tf.float32) * _window_count(hard))

    def result(self) -> tf.Tensor:
        return tf.math.divide_no_nan(tf.reduce_sum(self._weight_vector * self.hits), self.capacity)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pair_weights": [[a, b, w] for (a, b), w in self.pair_weights.items()],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SdnMetric:
        config = dict(config)
        config["pair_weights"] = {(int(a), int(b)): w for a, b, w in config["pair_weights"]}
        return cls(**config)
