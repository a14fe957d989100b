from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cascade import (
    CLEAR,
    CLOUD,
    CLOUDLESS,
    NO_DATA,
    NODATA,
    OVERCAST,
    PARTLY_CLOUDY,
    SHADOW,
    InputArrayError,
    SceneGeometry,
)
from cascade.kernels import NodataPolicy, cell_counts, classify_cells, pool_labels
from cascade.kernels.reference import cell_counts_ref, pool_labels_ref
from tests.conftest import geometries

# A 2 x 3 grid of 10 x 10 cells (patch 14, margin 2); the scene is 20 x 27, so the last column
# of cells is 7 pixels wide and 3 of its columns are completion padding.
G = SceneGeometry(20, 27, patch=14, margin=2, stride=2)


def _mask() -> np.ndarray:
    m = np.zeros((20, 27), np.uint8)
    m[0:10, 0:10] = CLOUD  # (0, 0): overcast
    m[0:10, 10:20] = CLEAR  # (0, 1): cloudless
    m[0:10, 24:27] = CLOUD  # (0, 2): partly cloudy, inside the scene part only
    m[10:20, 0:10] = NODATA  # (1, 0): no data
    m[10:20, 10:20] = CLOUD
    m[10:12, 10:20] = NODATA  # (1, 1): cloud and no data
    m[10:20, 20:27] = CLOUD  # (1, 2): all cloud inside the scene, padding outside
    return m


def test_paper_rule_default_policy() -> None:
    classes = pool_labels(_mask(), G)
    assert classes.tolist() == [
        [OVERCAST, CLOUDLESS, PARTLY_CLOUDY],
        [NO_DATA, OVERCAST, OVERCAST],
    ]


def test_counts_include_padding_as_nodata() -> None:
    counts = cell_counts(_mask(), G)
    assert counts.shape == (2, 3, 3)
    assert (counts.sum(-1) == 100).all()
    assert counts[1, 2].tolist() == [0, 70, 30]  # 7 of 10 columns are scene
    assert counts[1, 1].tolist() == [0, 80, 20]
    np.testing.assert_array_equal(counts, cell_counts_ref(_mask(), G))


def test_literal_policy() -> None:
    classes = pool_labels(_mask(), G, NodataPolicy(mixed="literal"))
    # Cloud mixed with No Data is "not all pixels cloud": Partly Cloudy, never Overcast.
    assert classes.tolist() == [
        [OVERCAST, CLOUDLESS, PARTLY_CLOUDY],
        [NO_DATA, PARTLY_CLOUDY, PARTLY_CLOUDY],
    ]


def test_partly_cloudy_policy() -> None:
    m = _mask()
    m[0:10, 10:13] = NODATA  # (0, 1): clear with some no data
    classes = pool_labels(m, G, NodataPolicy(mixed="partly_cloudy"))
    assert classes.tolist() == [
        [OVERCAST, PARTLY_CLOUDY, PARTLY_CLOUDY],
        [NO_DATA, PARTLY_CLOUDY, PARTLY_CLOUDY],
    ]
    assert pool_labels(m, G)[0, 1] == CLOUDLESS


def test_nodata_fraction_threshold() -> None:
    classes = pool_labels(_mask(), G, NodataPolicy(nodata_fraction=0.25))
    assert classes[1, 2] == NO_DATA  # 30 % no data
    assert classes[1, 1] == OVERCAST  # 20 % no data
    assert pool_labels(_mask(), G, NodataPolicy(nodata_fraction=0.2))[1, 1] == NO_DATA


@given(
    geometries(max_side=70),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["ignore", "literal", "partly_cloudy"]),
)
def test_agrees_with_reference(g: SceneGeometry, seed: int, mixed: str) -> None:
    rng = np.random.default_rng(seed)
    # Blocky masks, so that pure cells occur as well as mixed ones.
    small = rng.choice(
        np.array([CLEAR, CLOUD, SHADOW, NODATA], np.uint8), size=(8, 8), p=[0.4, 0.35, 0.15, 0.1]
    )
    mask = np.ascontiguousarray(
        np.repeat(np.repeat(small, -(-g.height // 8), 0), -(-g.width // 8), 1)[
            : g.height, : g.width
        ]
    )
    policy = NodataPolicy(mixed=mixed)  # type: ignore[arg-type]
    np.testing.assert_array_equal(cell_counts(mask, g), cell_counts_ref(mask, g))
    np.testing.assert_array_equal(pool_labels(mask, g, policy), pool_labels_ref(mask, g, policy))


def test_shadow_counts_as_unusable() -> None:
    """Cloud shadow is unusable ground like cloud: a cell of cloud and shadow is Overcast, one
    of shadow and clear Partly Cloudy, and a two-class mask pools as before."""
    m = _mask()
    m[0:10, 0:5] = SHADOW  # (0, 0): cloud and shadow
    m[0:10, 10:12] = SHADOW  # (0, 1): clear and shadow
    assert pool_labels(m, G).tolist() == [
        [OVERCAST, PARTLY_CLOUDY, PARTLY_CLOUDY],
        [NO_DATA, OVERCAST, OVERCAST],
    ]
    counts = cell_counts(m, G)
    assert counts[0, 1].tolist() == [80, 20, 0]
    np.testing.assert_array_equal(counts, cell_counts_ref(m, G))


def test_bad_masks() -> None:
    m = _mask()
    m[0, 0] = 4
    m[15, 3] = 3
    with pytest.raises(
        InputArrayError,
        match=r"2 pixel\(s\) that are not 0 \(clear\), 1 \(cloud\), 2 \(cloud shadow\) or "
        r"255 \(no data\), e.g. 4",
    ):
        pool_labels(m, G)
    with pytest.raises(InputArrayError, match=r"must be uint8 .* got dtype int64"):
        pool_labels(_mask().astype(np.int64), G)
    with pytest.raises(InputArrayError, match=r"2 dimensions \(height, width\), got 3"):
        pool_labels(_mask()[None], G)
    with pytest.raises(InputArrayError, match=r"mask has height x width \(20, 26\)"):
        pool_labels(_mask()[:, :26].copy(), G)
    with pytest.raises(InputArrayError, match=r"nodata_fraction must be in \(0, 1\]"):
        NodataPolicy(nodata_fraction=0.0)
    with pytest.raises(InputArrayError, match="mixed must be"):
        NodataPolicy(mixed="majority")  # type: ignore[arg-type]
    with pytest.raises(InputArrayError, match=r"counts must be \(rows, cols, 3\)"):
        classify_cells(np.zeros((2, 3)))
