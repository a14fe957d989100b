"""Coarse-model losses and metrics: hand-counted adjacency grids, numpy references, gradients."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from cascade.classes import CLEAR, CLOUD, CLOUDLESS, NO_DATA, NODATA, OVERCAST, PARTLY_CLOUDY
from cascade.errors import CascadeError, InputArrayError, LossConfigError
from training.losses import (
    AdjacencyLoss,
    CoarseLoss,
    SdnMetric,
    StagedCoarseLoss,
    WeightedCrossEntropy,
    adjacency_count_tf,
    adjacency_loss,
    coarse_accuracy,
    coarse_loss,
    relaxed_adjacency,
    weighted_cross_entropy,
)
from training.metrics import (
    DEFAULT_EPSILON,
    DEFAULT_PAIR_WEIGHTS,
    NO_DATA_PAIR_WEIGHTS,
    PLACEMENTS,
    adjacency_count,
    adjacency_kernels,
    max_adjacency_count,
    normalized_adjacency,
    pixel_metrics,
    weighted_cross_entropy_numpy,
)

OC = (OVERCAST, CLOUDLESS)
_CODES = {"O": OVERCAST, "P": PARTLY_CLOUDY, "C": CLOUDLESS, "N": NO_DATA}


def grid(*rows: str) -> np.ndarray:
    """One-hot (H, W, 4) float32 grid from rows of O/P/C/N letters."""
    labels = np.array([[_CODES[ch] for ch in row] for row in rows])
    return np.eye(4, dtype=np.float32)[labels]


def random_onehot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, shape)]


def random_probs(
    rng: np.random.Generator, shape: tuple[int, ...], scale: float = 3.0
) -> np.ndarray:
    logits = rng.normal(0.0, scale, (*shape, 4))
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def neighbour_reference(onehot: np.ndarray, pair: tuple[int, int]) -> int:
    """S_d from cell pairs instead of windows: each unordered A-B neighbour pair counts once
    per 2x2 window that holds both cells (edge neighbours: 2 inside, 1 on the border)."""
    labels = onehot.argmax(axis=-1)
    h, w = labels.shape
    a, b = pair
    total = 0
    for i, j in itertools.product(range(h), range(w)):
        for di, dj in ((0, 1), (1, 0), (1, 1), (1, -1)):
            k, m = i + di, j + dj
            if not (0 <= k < h and 0 <= m < w) or {labels[i, j], labels[k, m]} != {a, b}:
                continue
            if di and dj:
                total += 1
            elif di:  # vertical pair: windows to its left and right
                total += (j > 0) + (j < w - 1)
            else:  # horizontal pair: windows above and below
                total += (i > 0) + (i < h - 1)
    return total


# --------------------------------------------------------------------------- S_d by hand


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (("OC", "PP"), 1),  # A left of B
        (("CO", "PP"), 1),  # B left of A
        (("OP", "CP"), 1),  # A above B
        (("CP", "OP"), 1),  # B above A
        (("OP", "PC"), 1),  # main diagonal, A first
        (("CP", "PO"), 1),  # main diagonal, B first
        (("PO", "CP"), 1),  # anti-diagonal, A top-right
        (("PC", "OP"), 1),  # anti-diagonal, B top-right
        (("PPP", "OCP", "PPP"), 2),  # an interior edge pair lies in two windows
        (("OCP", "PPP", "PPP"), 1),  # the same pair on the border lies in one
        (("OO", "CC"), 4),  # the maximum of one window: 2 A x 2 B
        (("OPC", "OPC", "OPC"), 0),  # a partly cloudy column keeps them apart
        (("OON", "NNN", "NCC"), 0),  # no data in between is not an O-C adjacency
    ],
)
def test_adjacency_count_hand_built(rows: tuple[str, ...], expected: int) -> None:
    g = grid(*rows)
    assert adjacency_count(g, OC) == expected
    assert adjacency_count(g, (CLOUDLESS, OVERCAST)) == expected  # the pair is unordered
    assert int(adjacency_count_tf(g[np.newaxis], OC)) == expected


def test_adjacency_count_known_total() -> None:
    g = grid(
        "OOC",
        "POC",
        "PPP",
    )
    # O-C neighbours: (0,1)-(0,2) horizontal on the top border: 1 window;
    # (1,1)-(1,2) horizontal inside: windows at rows 0 and 1: 2;
    # (0,1)-(1,2) and (1,1)-(0,2), the two diagonals of the top-right window: 1 + 1.
    # Total 5. By window: top-right holds 2 O x 2 C = 4, bottom-right 1 O x 1 C = 1.
    assert adjacency_count(g, OC) == 5
    assert normalized_adjacency(g, OC) == pytest.approx(5 / (3 * 3 * 4))  # Eq. 5: m n A_max
    # Partly cloudy touches overcast at (1,0)-(0,0) (1), (1,0)-(1,1) (2), (1,0)-(0,1) (1),
    # (2,0)-(1,1) (1), (2,1)-(1,1) (2), (2,2)-(1,1) (1) and cloudless at (2,1)-(1,2) (1),
    # (2,2)-(1,2) (1): 8 with overcast.
    assert adjacency_count(g, (OVERCAST, PARTLY_CLOUDY)) == 8
    assert adjacency_count(g, (OVERCAST, NO_DATA)) == 0


def test_adjacency_count_sums_over_batch() -> None:
    batch = np.stack([grid("OC", "PP"), grid("OO", "CC"), grid("PP", "PP")])
    assert adjacency_count(batch, OC) == 1 + 4 + 0
    assert normalized_adjacency(batch, OC) == pytest.approx(5 / (3 * 2 * 2 * 4))


@pytest.mark.parametrize("rows", [("OCOC", "OCOC", "OCOC"), ("OCOC", "COCO", "OCOC")])
def test_stripes_and_checkerboard_reach_the_maximum(rows: tuple[str, ...]) -> None:
    g = grid(*rows)
    assert adjacency_count(g, OC) == max_adjacency_count(3, 4) == 4 * 2 * 3
    assert normalized_adjacency(g, OC) == 24 / (3 * 4 * 4)


def test_adjacency_count_matches_neighbour_reference_and_tf() -> None:
    rng = np.random.default_rng(7)
    for shape in [(2, 2), (3, 5), (6, 4), (8, 8)]:
        g = random_onehot(rng, shape)
        for pair in itertools.combinations(range(4), 2):
            expected = neighbour_reference(g, pair)
            assert adjacency_count(g, pair) == expected, (shape, pair)
            assert int(adjacency_count_tf(g[np.newaxis], pair)) == expected, (shape, pair)


def test_kernels_are_the_twelve_placements() -> None:
    k = adjacency_kernels()
    assert k.shape == (2, 2, 2, 12)
    assert len(set(PLACEMENTS)) == 12
    # Each kernel: one 1 in channel A, one in channel B, at different window cells.
    np.testing.assert_array_equal(k.sum(axis=(0, 1)), np.ones((2, 12)))
    assert not (k[..., 0, :] * k[..., 1, :]).any()


# --------------------------------------------------------------------------- relaxed score


@pytest.mark.parametrize("mode", ["soft", "literal", "ste"])
def test_relaxed_score_of_onehot_is_scaled_sdn(mode: str) -> None:
    rng = np.random.default_rng(3)
    batch = random_onehot(rng, (3, 6, 6))
    most = 3 * max_adjacency_count(6, 6)
    for pair in [OC, (OVERCAST, NO_DATA), (PARTLY_CLOUDY, CLOUDLESS)]:
        relaxed = float(relaxed_adjacency(batch, pair, mode=mode))
        # Documented: each response of 2 passes the ReLU as 1 - epsilon.
        want = (1 - DEFAULT_EPSILON) * adjacency_count(batch, pair) / most
        assert relaxed == pytest.approx(want, rel=1e-6)
    assert float(relaxed_adjacency(batch, OC, mode=mode, epsilon=0.0)) == pytest.approx(
        adjacency_count(batch, OC) / most, rel=1e-6
    )


def test_relaxed_score_ignores_unconfident_predictions() -> None:
    uniform = np.full((1, 4, 4, 4), 0.25, dtype=np.float32)
    assert float(relaxed_adjacency(uniform, OC)) == 0.0


def test_relaxed_score_stays_in_unit_interval_on_probabilities() -> None:
    rng = np.random.default_rng(11)
    probs = random_probs(rng, (4, 7, 7), scale=6.0)
    value = float(relaxed_adjacency(probs, OC))
    assert 0.0 < value <= 1.0 - DEFAULT_EPSILON


# --------------------------------------------------------------------------- gradients


def _adjacent_logits() -> tf.Variable:
    """Confident overcast left half, cloudless right half: adjacent in the middle columns."""
    labels = np.array([[OVERCAST] * 2 + [CLOUDLESS] * 2] * 4)
    return tf.Variable(4.0 * np.eye(4, dtype=np.float32)[labels][np.newaxis])


def _gradient(loss: keras.losses.Loss, logits: tf.Variable) -> tf.Tensor | None:
    y_true = np.eye(4, dtype=np.float32)[np.full((1, 4, 4), PARTLY_CLOUDY)]
    with tf.GradientTape() as tape:
        value = loss(y_true, tf.nn.softmax(logits))
    assert float(value) > 0.0
    return tape.gradient(value, logits)


@pytest.mark.parametrize("mode", ["soft", "ste"])
def test_trainable_modes_pass_gradient(mode: str) -> None:
    logits = _adjacent_logits()
    grad = _gradient(adjacency_loss(mode=mode), logits)
    assert grad is not None
    g = grad.numpy()
    assert np.abs(g).max() > 0.0
    # The gradient lowers overcast and cloudless where they touch (cols 1 and 2) and leaves
    # cells far from the boundary alone.
    assert g[0, :, 1, OVERCAST].min() > 0.0
    assert g[0, :, 2, CLOUDLESS].min() > 0.0


def test_default_mode_is_soft() -> None:
    assert adjacency_loss().mode == "soft"
    assert coarse_loss([1] * 4, [1] * 4, gamma=1.0).adjacency.mode == "soft"


def test_literal_mode_passes_no_gradient() -> None:
    logits = _adjacent_logits()
    grad = _gradient(adjacency_loss(mode="literal"), logits)
    assert grad is None or not np.any(grad.numpy())


def test_gradient_descent_on_soft_loss_lowers_sdn() -> None:
    logits = _adjacent_logits()
    loss = adjacency_loss(pair_weights={OC: 1.0})
    y_true = np.zeros((1, 4, 4, 4), np.float32)
    before = float(loss(y_true, tf.nn.softmax(logits)))
    opt = keras.optimizers.SGD(learning_rate=5.0)
    for _ in range(20):
        with tf.GradientTape() as tape:
            value = loss(y_true, tf.nn.softmax(logits))
        opt.apply_gradients([(tape.gradient(value, logits), logits)])
    assert float(loss(y_true, tf.nn.softmax(logits))) < before


# --------------------------------------------------------------------------- cross entropy


@pytest.mark.parametrize(
    ("alpha", "beta"),
    [
        ([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]),
        ([2.0, 0.5, 1.0, 0.1], [1.0, 1.0, 1.0, 1.0]),
        ([1.0, 1.0, 1.0, 1.0], [0.5, 0.8, 1.0, 1.5]),
        ([0.3, 4.0, 0.0, 1.2], [0.25, 1.0, 0.7, 2.0]),
    ],
)
@pytest.mark.parametrize("form", ["eq2", "weighted-categorical"])
def test_weighted_cross_entropy_matches_numpy(
    alpha: list[float], beta: list[float], form: str
) -> None:
    rng = np.random.default_rng(5)
    y_true = random_onehot(rng, (3, 5, 5))
    y_pred = random_probs(rng, (3, 5, 5))
    y_pred[0, 0, 0] = [0.0, 0.0, 1.0, 0.0]  # exercises the clips at 1e-7 and 1 - 1e-7
    expected = weighted_cross_entropy_numpy(y_true, y_pred, alpha, beta, form)
    got = float(weighted_cross_entropy(alpha, beta, form)(y_true, y_pred))
    assert got == pytest.approx(expected, rel=1e-5)


def test_eq2_skips_negative_targets() -> None:
    # A target of -1 (a label that is not known) leaves that class of that cell out: the loss
    # equals the one where that class has no weight (alpha 0) whatever its target.
    rng = np.random.default_rng(8)
    y = random_onehot(rng, (2, 4, 4))
    p = random_probs(rng, (2, 4, 4))
    unknown = y.copy()
    unknown[..., 3] = -1.0
    alpha, beta = [1.0, 2.0, 1.0, 4.0], [1.0, 0.5, 1.0, 0.25]
    got = float(weighted_cross_entropy(alpha, beta)(unknown, p))
    want = float(weighted_cross_entropy([1.0, 2.0, 1.0, 0.0], beta)(y, p))
    assert got == pytest.approx(want, rel=1e-6)
    assert got < float(weighted_cross_entropy(alpha, beta)(y, p))


def test_eq2_by_hand_on_one_cell() -> None:
    # The paper's Eq. 2 for one cell, y = Partly Cloudy, p = (0.2, 0.5, 0.2, 0.1):
    # -[a0 b0 log(0.8) + a1 log(0.5) + a2 b2 log(0.8) + a3 b3 log(0.9)]
    alpha, beta = [1.0, 2.0, 1.0, 1.0], [1.0, 0.5, 1.0, 1.0]
    y = np.array([[[[0.0, 1.0, 0.0, 0.0]]]], np.float32)
    p = np.array([[[[0.2, 0.5, 0.2, 0.1]]]], np.float32)
    want = -(np.log(0.8) + 2.0 * np.log(0.5) + np.log(0.8) + np.log(0.9))
    assert float(weighted_cross_entropy(alpha, beta)(y, p)) == pytest.approx(want, rel=1e-5)


def test_eq2_beta_below_one_forgives_false_positives_only() -> None:
    # beta weighs the negative term of its class: with beta_PC = 0.5, calling a Cloudless cell
    # Partly Cloudy (a false positive of PC) costs less than with beta = 1; missing a Partly
    # Cloudy cell (a false negative of PC) costs the same.
    unit, paper = ([1.0] * 4, [1.0] * 4), ([1.0] * 4, [1.0, 0.5, 1.0, 1.0])
    cloudless = np.array([[[[0.0, 0.0, 1.0, 0.0]]]], np.float32)
    partly = np.array([[[[0.0, 1.0, 0.0, 0.0]]]], np.float32)
    says_partly = np.array([[[[0.05, 0.8, 0.1, 0.05]]]], np.float32)
    says_cloudless = np.array([[[[0.05, 0.1, 0.8, 0.05]]]], np.float32)

    def loss(weights: tuple[list[float], list[float]], y: np.ndarray, p: np.ndarray) -> float:
        return float(weighted_cross_entropy(*weights)(y, p))

    assert loss(paper, cloudless, says_partly) < loss(unit, cloudless, says_partly)
    # the missed PC cell: its PC term is the positive one (y_PC log p_PC), which beta leaves
    # alone, and PC's negative term vanishes (1 - y_PC = 0)
    fn_unit, fn_paper = loss(unit, partly, says_cloudless), loss(paper, partly, says_cloudless)
    assert fn_paper == pytest.approx(fn_unit, rel=1e-6)
    assert fn_paper > loss(paper, cloudless, says_partly)


def test_unit_weights_give_keras_categorical_cross_entropy() -> None:
    rng = np.random.default_rng(6)
    y_true = random_onehot(rng, (2, 4, 4))
    y_pred = random_probs(rng, (2, 4, 4))
    keras_ce = float(keras.losses.CategoricalCrossentropy()(y_true, y_pred))
    got = float(weighted_cross_entropy([1] * 4, [1] * 4, "weighted-categorical")(y_true, y_pred))
    assert got == pytest.approx(keras_ce, rel=1e-5)


def test_coarse_loss_is_wce_plus_adjacency() -> None:
    rng = np.random.default_rng(8)
    y_true = random_onehot(rng, (2, 6, 6))
    y_pred = random_probs(rng, (2, 6, 6), scale=6.0)
    alpha, beta = [1.0, 2.0, 1.0, 0.5], [1.0, 0.5, 1.0, 1.0]
    wce = float(weighted_cross_entropy(alpha, beta)(y_true, y_pred))
    adj = float(adjacency_loss(gamma=1.0)(y_true, y_pred))
    assert adj > 0.0
    assert float(coarse_loss(alpha, beta)(y_true, y_pred)) == pytest.approx(wce, rel=1e-6)
    assert float(coarse_loss(alpha, beta, gamma=1.0)(y_true, y_pred)) == pytest.approx(
        wce + adj, rel=1e-6
    )
    assert float(adjacency_loss(gamma=2.5)(y_true, y_pred)) == pytest.approx(2.5 * adj, rel=1e-6)


def test_staged_coarse_loss_switches_the_adjacency_term_inside_a_traced_function() -> None:
    rng = np.random.default_rng(8)
    y_true = tf.constant(random_onehot(rng, (2, 6, 6)))
    y_pred = tf.constant(random_probs(rng, (2, 6, 6), scale=6.0))
    full = coarse_loss([1.0, 2.0, 1.0, 0.5], [1.0, 0.5, 1.0, 1.0], gamma=1.0)
    staged = StagedCoarseLoss(full)
    traced = tf.function(lambda t, p: staged(t, p))
    wce = float(full.wce(y_true, y_pred))
    assert float(traced(y_true, y_pred)) == pytest.approx(wce, rel=1e-6)
    staged.with_adjacency.assign(1.0)
    assert float(traced(y_true, y_pred)) == pytest.approx(float(full(y_true, y_pred)), rel=1e-6)
    assert float(full(y_true, y_pred)) > wce
    assert traced.experimental_get_tracing_count() == 1


def test_adjacency_loss_default_weights_are_the_papers() -> None:
    assert dict(DEFAULT_PAIR_WEIGHTS) == {OC: 0.75, (0, 1): 0.125, (2, 1): 0.125}
    assert dict(NO_DATA_PAIR_WEIGHTS) == {OC: 0.75, (0, 3): 0.125, (2, 3): 0.125}


def test_earlier_penalty_form_scores_the_prediction_alone() -> None:
    rng = np.random.default_rng(9)
    y_pred = random_onehot(rng, (2, 5, 5))
    loss = adjacency_loss(NO_DATA_PAIR_WEIGHTS, form="penalty")
    expected = sum(w * float(relaxed_adjacency(y_pred, p)) for p, w in NO_DATA_PAIR_WEIGHTS.items())
    assert float(loss(y_pred, y_pred)) == pytest.approx(expected, rel=1e-6)
    assert expected > 0


def test_eq3_is_the_squared_difference_of_relaxed_counts() -> None:
    # Labels: Overcast left, Partly Cloudy middle, Cloudless right (a 3 x 3 grid): no O/C
    # adjacency, several O/P ones.
    y_true = grid("OPC", "OPC", "OPC")[np.newaxis]
    assert adjacency_count(y_true, OC) == 0
    n_op = adjacency_count(y_true, (OVERCAST, PARTLY_CLOUDY))
    # A prediction that drops the Partly Cloudy column: O next to C everywhere.
    y_pred = grid("OOC", "OOC", "OOC")[np.newaxis] * 0.97 + 0.0075
    eps = DEFAULT_EPSILON
    hard_oc = adjacency_count(grid("OOC", "OOC", "OOC")[np.newaxis], OC)
    loss = adjacency_loss({OC: 1.0}, mode="ste", epsilon=eps)
    # S'_d(y) = 0; S'_d(y_hat) = (1 - eps) per adjacency (ste: the hard one-hot's value)
    assert float(loss(y_true, y_pred)) == pytest.approx(((1 - eps) * hard_oc) ** 2 / 9, rel=1e-5)
    # matching the labels' count of a pair costs nothing, however many adjacencies it has
    same = adjacency_loss({(OVERCAST, PARTLY_CLOUDY): 1.0}, mode="ste")
    assert n_op > 0
    assert float(same(y_true, y_true * 0.97 + 0.0075)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    "loss",
    [
        WeightedCrossEntropy([1, 2, 3, 4], [0.5, 1, 1, 1]),
        AdjacencyLoss({(2, 0): 0.5}, gamma=0.3, mode="ste", epsilon=0.01),
        CoarseLoss([1, 2, 3, 4], [0.5, 1, 1, 1], gamma=1.0, mode="literal"),
    ],
)
def test_losses_round_trip_through_config(loss: keras.losses.Loss) -> None:
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(clone) is type(loss)
    assert clone.get_config() == loss.get_config()


# --------------------------------------------------------------------------- metrics


def test_coarse_accuracy_counts_cells_per_image() -> None:
    y_true = np.stack([grid("OC", "PN"), grid("OO", "OO")])
    y_pred = np.stack([grid("OC", "PP"), grid("CC", "CC")]) * 0.9 + 0.025
    np.testing.assert_allclose(coarse_accuracy(y_true, y_pred).numpy(), [0.75, 0.0])


def test_sdn_metric_accumulates_over_batches() -> None:
    metric = SdnMetric()
    metric.update_state(None, grid("OO", "CC")[np.newaxis] * 0.6 + 0.1)  # 4 of 2 x 2 x 4
    metric.update_state(None, np.stack([grid("OP", "PP"), grid("OC", "PP")]))  # 1 of 32
    assert float(metric.result()) == pytest.approx(5 / 48)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    weighted = SdnMetric(pair_weights=DEFAULT_PAIR_WEIGHTS)
    g = grid("ON", "CC")
    weighted.update_state(None, g[np.newaxis])  # Eq. 5, as normalized_adjacency
    expected = sum(w * normalized_adjacency(g, p) for p, w in DEFAULT_PAIR_WEIGHTS.items())
    assert float(weighted.result()) == pytest.approx(expected)


def test_compiles_and_trains_with_keras() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Conv2D(4, 1, activation="softmax")]
    )
    model.compile(
        optimizer="sgd",
        loss=coarse_loss([1.0] * 4, [1.0] * 4, gamma=1.0),
        metrics=[coarse_accuracy, SdnMetric()],
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    logs = model.train_on_batch(x, random_onehot(rng, (2, 4, 4)), return_dict=True)
    assert set(logs) >= {"loss", "coarse_accuracy", "sdn"}
    assert all(np.isfinite(v) for v in logs.values())


def test_pixel_metrics_hand_made() -> None:
    truth = np.array([[1, 1, 1, 0], [0, 0, 255, 255]], dtype=np.uint8)
    pred = np.array([[1, 1, 0, 1], [0, 255, 1, 0]], dtype=np.uint8)
    # Valid: the first 6 pixels. tp = 2, fn = 1 (cloud -> clear), fp = 1 (clear -> cloud),
    # tn = 2 (clear -> clear, and clear -> nodata counts as not cloud).
    m = pixel_metrics(pred, truth)
    assert (m["tp"], m["fp"], m["tn"], m["fn"], m["n_valid"]) == (2, 1, 2, 1, 6)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["iou"] == pytest.approx(2 / 4)


def test_pixel_metrics_zero_denominators_are_none() -> None:
    clear = np.zeros((3, 3), np.uint8)
    m = pixel_metrics(clear, clear)  # no cloud anywhere: only accuracy is defined
    assert (m["tn"], m["accuracy"]) == (9, 1.0)
    assert m["precision"] is m["recall"] is m["f1"] is m["iou"] is None
    nodata = np.full((2, 2), NODATA, np.uint8)
    m = pixel_metrics(np.full((2, 2), CLOUD, np.uint8), nodata)  # nothing valid
    assert m["n_valid"] == 0
    assert m["accuracy"] is m["precision"] is m["recall"] is None
    m = pixel_metrics(clear[:1, :2], np.array([[CLOUD, CLEAR]], np.uint8))  # cloud missed
    assert (m["precision"], m["recall"], m["f1"], m["iou"]) == (None, 0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- errors


def test_errors_are_value_errors() -> None:
    assert issubclass(LossConfigError, CascadeError)
    assert issubclass(LossConfigError, ValueError)
    assert issubclass(InputArrayError, ValueError)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: weighted_cross_entropy([1, 1, 1], [1, 1, 1, 1]),
            r"alpha must have one value per class .* \(length 4\); got \[1, 1, 1\] of shape \(3,\)",
        ),
        (
            lambda: weighted_cross_entropy([1, 1, 1, 1], [1, 1, 1, 1, 1]),
            r"beta must have one value per class .* got \[1, 1, 1, 1, 1\] of shape \(5,\)",
        ),
        (
            lambda: weighted_cross_entropy([1, -1, 1, 1], [1, 1, 1, 1]),
            r"alpha must be finite and >= 0 for every class; got \[1, -1, 1, 1\] \(bad at class 1 \(partly_cloudy\)\)",
        ),
        (
            lambda: weighted_cross_entropy([1, 1, 1, 1], [1, 0, 1, 1]),
            r"beta must be finite and > 0 for every class",
        ),
        (
            lambda: adjacency_loss(mode="sign"),
            r"unknown mode 'sign'; valid modes are \('soft', 'literal', 'ste'\)",
        ),
        (
            lambda: adjacency_loss({OC: -0.5}),
            r"pair_weights\[\(0, 2\)\] must be a finite number >= 0.0; got -0.5",
        ),
        (
            lambda: adjacency_loss({(0, 0): 1.0}),
            r"pair_weights key must be two different class indices in 0\.\.3 .*; got \(0, 0\)",
        ),
        (
            lambda: adjacency_loss({(0, 2): 1.0, (2, 0): 1.0}),
            r"names the pair \(0, 2\) twice",
        ),
        (lambda: adjacency_loss({}), r"pair_weights must be a non-empty mapping"),
        (lambda: adjacency_loss(gamma=-1.0), r"gamma must be a finite number >= 0.0; got -1.0"),
        (
            lambda: adjacency_loss(epsilon=1.0),
            r"epsilon must be a finite number in \[0.0, 1.0\); got 1.0",
        ),
        (lambda: coarse_loss([1] * 4, [1] * 4, mode="hard"), r"unknown mode 'hard'"),
        (lambda: SdnMetric({(1, 7): 1.0}), r"class indices in 0\.\.3 .*; got \(1, 7\)"),
    ],
)
def test_configuration_errors(make: Callable[[], object], match: str) -> None:
    with pytest.raises(LossConfigError, match=match):
        make()


def test_input_array_errors() -> None:
    g = grid("OC", "PP")
    with pytest.raises(
        InputArrayError, match=r"onehot must be \(H, W, C\) or \(batch, H, W, C\); got shape \(4,\)"
    ):
        adjacency_count(np.zeros(4), OC)
    with pytest.raises(InputArrayError, match=r"at least 2 x 2 cells .* got shape \(1, 1, 3, 4\)"):
        adjacency_count(grid("OCP"), OC)
    with pytest.raises(InputArrayError, match=r"exactly one-hot .* argmax the probabilities first"):
        adjacency_count(g * 0.9, OC)
    with pytest.raises(
        InputArrayError, match=r"has 2 class channels but pair \(0, 2\) needs channel 2"
    ):
        adjacency_count(g[..., :2], OC)
    with pytest.raises(LossConfigError, match=r"pair must be two different class indices"):
        normalized_adjacency(g, (1, 1))
    wce = weighted_cross_entropy([1] * 4, [1] * 4)
    with pytest.raises(
        InputArrayError, match=r"y_pred must be \(batch, G, G, 4\) .* got shape \(2, 2, 4\)"
    ):
        wce(g, g)
    with pytest.raises(InputArrayError, match=r"y_pred must be .* got shape \(1, 2, 2, 3\)"):
        wce(g[np.newaxis, ..., :3], g[np.newaxis, ..., :3])
    with pytest.raises(
        InputArrayError,
        match=r"y_true must have the shape of y_pred \(1, 2, 2, 4\); got \(1, 3, 2, 4\)",
    ):
        adjacency_loss()(grid("OC", "PP", "PP")[np.newaxis], g[np.newaxis])
    with pytest.raises(
        InputArrayError, match=r"pred and truth must have the same shape; got \(2,\) and \(3,\)"
    ):
        pixel_metrics(np.zeros(2, np.uint8), np.zeros(3, np.uint8))
    with pytest.raises(
        InputArrayError, match=r"pred must hold only the mask codes \(0, 1, 255\) .* found \[2, 7\]"
    ):
        pixel_metrics(np.array([0, 2, 7]), np.zeros(3, np.uint8))
    with pytest.raises(
        InputArrayError,
        match=r"y_true and y_pred must both be \(\.\.\., 4\); got \(2, 2, 4\) and \(2, 2, 3\)",
    ):
        weighted_cross_entropy_numpy(g, g[..., :3], [1] * 4, [1] * 4)
