"""Losses and metrics of the coarse model, with numpy references to test them against.

The coarse model maps a scene to a ``G x G`` grid of cells and gives each cell softmax
probabilities over the four classes of :mod:`cascade.classes` (Overcast, Partly Cloudy,
Cloudless, No Data, in that channel order). Its training loss follows Luotamo, Metsämäki and
Klami, "Multi-scale cloud detection in remote sensing images using a dual convolutional neural
network" (IEEE TGRS 2021, arXiv:2006.00836):

* a weighted cross entropy, the paper's Eq. 2 (:mod:`training.cross_entropy`,
  :func:`weighted_cross_entropy`): a binary cross entropy per class whose ``beta_k`` weighs the
  negative term, so ``beta_k < 1`` forgives false positives of class ``k``;
* an *adjacency* loss, Eqs. 3-6 (:func:`adjacency_loss`): the squared difference between the
  numbers of adjacent cells of a class pair (Overcast/Cloudless, Overcast/Partly Cloudy,
  Cloudless/Partly Cloudy) in the labels and in the prediction, counted by 12 two-by-two
  kernels and relaxed by ``ReLU(conv - (1 + epsilon))`` with ``epsilon = 0.001``;
* their sum, :func:`coarse_loss`. The paper trains with the cross entropy alone (``gamma =
  0``) and then fine-tunes from those weights with ``gamma = 1``.

Provenance. The first version of this module was written before the paper's text was at hand;
its reading (a class-weighted categorical cross entropy, an adjacency *penalty* on the
prediction alone, 0.125 pairs with No Data) trained the shipped pairs and stays available under
its own names (``cross_entropy="weighted-categorical"``, ``form="penalty"``,
:data:`training.metrics.NO_DATA_PAIR_WEIGHTS`); recipes choose with ``[coarse] loss_form``.
docs/paper.md compares every element with the paper. Two deliberate differences from the
paper's sums: both terms are means over the grid's cells (the paper's divided by ``m n``).

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

from cascade.classes import CLOUDLESS, OVERCAST
from cascade.errors import InputArrayError, LossConfigError

__all__ = [
    "ADJACENCY_FORMS",
    "CROSS_ENTROPIES",
    "AdjacencyLoss",
    "CoarseLoss",
    "SdnMetric",
    "StagedCoarseLoss",
    "WeightedCategoricalCrossEntropy",
    "WeightedCrossEntropy",
    "adjacency_count_tf",
    "adjacency_loss",
    "coarse_accuracy",
    "coarse_loss",
    "relaxed_adjacency",
    "weighted_cross_entropy",
]

from training.cross_entropy import (
    CROSS_ENTROPIES,
    WeightedCategoricalCrossEntropy,
    WeightedCrossEntropy,
    check_prediction,
    cross_entropy_class,
    weighted_cross_entropy,
)
from training.metrics import (
    A_MAX,
    DEFAULT_EPSILON,
    AdjacencyMode,
    Pair,
    _check_mode,
    _check_pair,
    _check_pair_weights,
    _check_scalar,
    adjacency_kernels,
)

ADJACENCY_FORMS: Final = ("eq3", "penalty")

# Exact one-hot responses are 0, 1 or 2; any threshold strictly between 1 and 2 picks the 2s
# without asking float arithmetic for equality.
_HIT_THRESHOLD: Final = 1.5


# --------------------------------------------------------------------------- adjacency


def _pair_response(maps: tf.Tensor, pair: Pair) -> tf.Tensor:
    """``(batch, H - 1, W - 1, 12)`` responses of the kernels to channels A and B of ``maps``."""
    a, b = pair
    two = tf.stack([maps[..., a], maps[..., b]], axis=-1)
    kernels = tf.constant(adjacency_kernels(), dtype=two.dtype)
    return tf.nn.conv2d(two, kernels, strides=1, padding="VALID")


def _window_count(maps: tf.Tensor) -> tf.Tensor:
    """``4 (H - 1)(W - 1)`` of ``maps`` as a float tensor (works with dynamic shapes): the
    normaliser of the earlier reading's relaxed score (:func:`relaxed_adjacency`)."""
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


def _relaxed_count(y: tf.Tensor, pair: Pair, mode: AdjacencyMode, epsilon: float) -> tf.Tensor:
    """``S'_d`` per image (Eq. 6), shape ``(batch,)``."""
    maps = _as_indicator(y, mode)
    excess = tf.nn.relu(_pair_response(maps, pair) - (1.0 + epsilon))
    return tf.reduce_sum(excess, axis=[1, 2, 3])


def _relaxed_per_image(
    y_pred: tf.Tensor, pair: Pair, mode: AdjacencyMode, epsilon: float
) -> tf.Tensor:
    return _relaxed_count(y_pred, pair, mode, epsilon) / _window_count(y_pred)


def _count_difference(
    y_true: tf.Tensor, y_pred: tf.Tensor, pair: Pair, mode: AdjacencyMode, epsilon: float
) -> tf.Tensor:
    """Eq. 3 per image, ``(S'_d(y) - S'_d(y_hat))^2``, over the grid's ``H W`` cells (as the
    cross entropy is a mean over cells), shape ``(batch,)``."""
    target = _relaxed_count(tf.cast(y_true, y_pred.dtype), pair, "soft", epsilon)
    got = _relaxed_count(y_pred, pair, mode, epsilon)
    shape = tf.shape(y_pred)
    return tf.square(target - got) / tf.cast(shape[1] * shape[2], y_pred.dtype)


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

    with the maps ``M`` chosen by ``mode`` (see :class:`AdjacencyLoss`): the score of the
    earlier reading's penalty (``form="penalty"``), divided by the largest ``S_d`` a grid can
    reach, :func:`training.metrics.max_adjacency_count` (the paper's Eq. 5 divides by ``4 H W``
    instead, :func:`normalized_adjacency`). On an exact one-hot grid the response is 0, 1 or 2
    and only the 2s pass the ReLU, each contributing ``1 - epsilon``, so ``S_rn = (1 -
    epsilon) S_d / (4 (H - 1)(W - 1))``.
    On probabilities ``S_rn`` also lies in ``[0, 1 - epsilon]`` (it is convex in the maps, so
    its maximum is at a one-hot grid).
    """
    p = _check_pair(pair)
    m = _check_mode(mode)
    eps = _check_scalar("epsilon", epsilon, low=0.0, high=1.0)
    x = tf.convert_to_tensor(y_pred, dtype=tf.float32)
    check_prediction(x)
    return tf.reduce_mean(_relaxed_per_image(x, p, m, eps))


@keras.saving.register_keras_serializable(package="cascade_training")
class AdjacencyLoss(keras.losses.Loss):
    r"""Adjacency loss of the coarse model: the paper's Eqs. 3 and 6 (``form="eq3"``).

    .. math::

        L_{adj} = \gamma \sum_{(A,B)} w_{(A,B)} \frac{1}{H W}
                  \left[ S'_d(y; A, B) - S'_d(M; A, B) \right]^2,
        \qquad S'_d(M) = \sum_{i,j,n} \mathrm{ReLU}((K_n * [M_A, M_B])_{ij} - (1 + \epsilon))

    the squared difference between the relaxed adjacency counts of the labels and of the
    predicted maps ``M`` (Eq. 6; on the one-hot labels each adjacency counts ``1 -
    epsilon``): the loss is smallest when the prediction has as many A/B adjacencies as the
    labels, not when it has none. Divided by the grid's ``H W`` cells, as the cross entropy is
    a mean over cells (both are the paper's sums over ``m n``); :data:`DEFAULT_PAIR_WEIGHTS`
    are the paper's (Overcast/Cloudless 0.75, Overcast/Partly Cloudy and Cloudless/Partly
    Cloudy 0.125).

    ``form="penalty"``: our earlier reading, written before the paper's text was at hand and
    used by the shipped pairs: ``gamma sum w S_rn(M; A, B)`` with :func:`relaxed_adjacency`,
    a penalty on every predicted A/B adjacency whatever the labels have (``y_true`` only
    checked for shape); meant for the pairs of :data:`training.metrics.NO_DATA_PAIR_WEIGHTS`.

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

    The paper's relaxed one-hot ``sigma'`` (values within floating-point residuals of 0 and
    1, its Supplement) is closest to ``"ste"``.

    Args:
        pair_weights: ``{(A, B): weight >= 0}``; a pair and its reverse are the same pair.
        gamma: overall weight ``>= 0``.
        mode: ``"soft"``, ``"literal"`` or ``"ste"``.
        epsilon: margin in ``[0, 1)``; the paper uses 0.001.
        form: ``"eq3"`` (the paper's) or ``"penalty"`` (the earlier reading).
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
        form: str = "eq3",
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if form not in ADJACENCY_FORMS:
            raise LossConfigError(f"form must be one of {', '.join(ADJACENCY_FORMS)}, got {form!r}")
        self.form = form
        self.pair_weights = _check_pair_weights(pair_weights)
        self.gamma = _check_scalar("gamma", gamma, low=0.0)
        self.mode: AdjacencyMode = _check_mode(mode)
        self.epsilon = _check_scalar("epsilon", epsilon, low=0.0, high=1.0)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Per-image weighted score, shape ``(batch,)``."""
        check_prediction(y_pred, y_true)
        total = tf.zeros(tf.shape(y_pred)[:1], dtype=y_pred.dtype)
        for pair, weight in self.pair_weights.items():
            if not weight:
                continue
            if self.form == "eq3":
                term = _count_difference(y_true, y_pred, pair, self.mode, self.epsilon)
            else:
                term = _relaxed_per_image(y_pred, pair, self.mode, self.epsilon)
            total += weight * term
        return self.gamma * total

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            # JSON has no tuple keys: the weights travel as [A, B, weight] triples.
            "pair_weights": [[a, b, w] for (a, b), w in self.pair_weights.items()],
            "gamma": self.gamma,
            "mode": self.mode,
            "epsilon": self.epsilon,
            "form": self.form,
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
    form: str = "eq3",
) -> AdjacencyLoss:
    """The adjacency loss as a Keras loss; see :class:`AdjacencyLoss`."""
    return AdjacencyLoss(
        pair_weights=pair_weights, gamma=gamma, mode=mode, epsilon=epsilon, form=form
    )


@keras.saving.register_keras_serializable(package="cascade_training")
class CoarseLoss(keras.losses.Loss):
    r"""Training loss of the coarse model: ``L = L_WCE + L_adj`` (with ``gamma`` in ``L_adj``).

    .. math::

        L = L_{WCE}(\alpha, \beta) + \gamma \sum_{(A,B)} w_{(A,B)} \, S_{rn}(A, B)

    ``gamma = 0`` is the plain weighted cross entropy (the adjacency term is not computed);
    the paper trains so first and then fine-tunes with ``gamma = 1``. ``cross_entropy``: the
    paper's Eq. 2 (``"eq2"``, :class:`WeightedCrossEntropy`) or ``"weighted-categorical"``
    (:class:`WeightedCategoricalCrossEntropy`). Other arguments as in those classes and
    :class:`AdjacencyLoss`.
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
        cross_entropy: str = "eq2",
        adjacency_form: str = "eq3",
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.cross_entropy = cross_entropy
        self.wce = cross_entropy_class(cross_entropy)(alpha, beta, dtype=dtype)
        self.adjacency = AdjacencyLoss(
            pair_weights, gamma, mode, epsilon, dtype=dtype, form=adjacency_form
        )

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
            "cross_entropy": self.cross_entropy,
            "adjacency_form": adj["form"],
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
    cross_entropy: str = "eq2",
    adjacency_form: str = "eq3",
) -> CoarseLoss:
    """Weighted cross entropy plus adjacency loss as a Keras loss; see :class:`CoarseLoss`."""
    options = {"cross_entropy": cross_entropy, "adjacency_form": adjacency_form}
    return CoarseLoss(alpha, beta, gamma, pair_weights, mode, epsilon, **options)


# --------------------------------------------------------------------------- metrics


def coarse_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Fraction of cells whose predicted class (arg-max) is the labelled one, per image.

    Returns shape ``(batch,)``; Keras averages it over images when given as a metric
    (``metrics=[coarse_accuracy]``). Every image has the same number of cells, so that mean is
    the accuracy over all cells.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.convert_to_tensor(y_true)
    check_prediction(y_pred, y_true)
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
        check_prediction(y_pred)
        hard = tf.one_hot(tf.argmax(y_pred, axis=-1), tf.shape(y_pred)[-1], dtype=tf.float32)
        hits = [
            tf.reduce_sum(tf.cast(_pair_response(hard, p) > _HIT_THRESHOLD, tf.float32))
            for p in self._pairs
        ]
        self.hits.assign_add(tf.stack(hits))
        shape = tf.shape(hard)
        cells = tf.cast(shape[0] * shape[1] * shape[2], tf.float32)
        self.capacity.assign_add(cells * float(A_MAX))  # Eq. 5: m n A_max per image

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
