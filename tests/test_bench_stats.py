"""The benchmark scores: confusion-matrix statistics, summaries, coarse scores, s2cloudless."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stats import RATES, coarse_accuracy, confusion, rates, s_dn, scores, summarize
from cascade.classes import CLOUDLESS, NO_DATA, OVERCAST, PARTLY_CLOUDY
from tests.conftest import SHARED_DATA

S2_SCENE = SHARED_DATA / "s2cloudless_scene" / "input_arrays.npz"


def test_confusion_counts_cloud_as_positive_and_skips_no_data() -> None:
    truth = np.array([[1, 1, 0, 0, 255], [1, 0, 0, 0, 1]], np.uint8)
    pred = np.array([[1, 0, 1, 0, 1], [1, 0, 0, 255, 0]], np.uint8)
    # (0,4) truth no data, (1,3) prediction no data: both left out
    assert confusion(pred, truth) == {"tp": 2, "fp": 1, "fn": 2, "tn": 3}


def test_rates_match_their_definitions() -> None:
    c = {"tp": 40, "fp": 10, "fn": 20, "tn": 130}
    r = rates(c)
    assert set(r) == set(RATES)
    tpr, tnr = 40 / 60, 130 / 140
    fpr, fnr = 10 / 140, 20 / 60
    expected = {
        "accuracy": 170 / 200,
        "precision": 40 / 50,
        "recall": tpr,
        "f1": 80 / 110,
        "iou": 40 / 70,
        "tpr": tpr,
        "tnr": tnr,
        "fpr": fpr,
        "fnr": fnr,
        "ppv": 40 / 50,
        "npv": 130 / 150,
        "fdr": 10 / 50,
        "for": 20 / 150,
        "balanced_accuracy": (tpr + tnr) / 2,
        "prevalence": 60 / 200,
        "lr_plus": tpr / fpr,
        "lr_minus": fnr / tnr,
    }
    for k, v in expected.items():
        assert r[k] == pytest.approx(v), k
    # complements hold
    assert r["tpr"] + r["fnr"] == pytest.approx(1.0)
    assert r["ppv"] + r["fdr"] == pytest.approx(1.0)


def test_undefined_ratios_are_none_not_invented() -> None:
    clear = np.zeros((4, 4), np.uint8)
    s = scores(clear, clear)
    assert s["accuracy"] == 1.0
    assert s["tnr"] == 1.0
    for k in ("recall", "precision", "f1", "iou", "lr_plus", "lr_minus", "balanced_accuracy"):
        assert s[k] is None, k
    empty = scores(np.full((2, 2), 255, np.uint8), clear[:2, :2])
    assert empty["pixels"] == 0
    assert empty["accuracy"] is None


def test_summarize_mean_over_images_and_pooled_differ_as_they_should() -> None:
    # image A: 100 pixels all right; image B: 4 pixels, half wrong
    a = scores(np.ones((10, 10), np.uint8), np.ones((10, 10), np.uint8))
    b = scores(np.array([[1, 0], [0, 1]], np.uint8), np.array([[1, 1], [0, 0]], np.uint8))
    s = summarize([a, b])
    assert s["images"] == 2
    assert s["mean"]["accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    assert s["pooled"]["accuracy"] == pytest.approx(102 / 104, abs=1e-4)
    assert s["pooled"]["tp"] == 101
    assert s["pooled"]["fn"] == 1
    # A has no clear pixels: its TNR is undefined and the mean TNR is B's alone
    assert a["tnr"] is None
    assert s["mean"]["tnr"] == b["tnr"]
    with pytest.raises(ValueError, match="at least one scored image"):
        summarize([])


def test_scores_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"one shape; got \(2, 3\) and \(3, 2\)"):
        confusion(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8))


def test_coarse_accuracy_and_s_dn() -> None:
    o, p, c, n = OVERCAST, PARTLY_CLOUDY, CLOUDLESS, NO_DATA
    pred = np.array([[o, p], [c, c]])
    assert coarse_accuracy(pred, np.array([[o, p], [c, n]])) == 0.75
    with pytest.raises(ValueError, match="one non-empty shape"):
        coarse_accuracy(pred, pred[:1])
    # a cloud edge through a Partly Cloudy band: no Overcast cell touches a Cloudless one
    assert s_dn(np.array([[o, p, c], [o, p, c], [o, p, c]])) == 0.0
    # Eq. 5: S_d / (m n A_max); a 2 x 2 checkerboard holds S_d = 4 (its maximum) of 2 * 2 * 4
    assert s_dn(np.array([[o, c], [c, o]])) == 0.25
    # one Overcast above one Cloudless in the single window: S_d = 1
    assert s_dn(np.array([[o, p], [c, p]])) == pytest.approx(1 / 16)
    assert s_dn(np.array([[o, c, o]])) is None  # below 2 x 2 there is no window
    with pytest.raises(ValueError, match="2-D"):
        s_dn(np.zeros(4, np.uint8))


@pytest.mark.slow
@pytest.mark.skipif(not S2_SCENE.exists(), reason=f"shared data {S2_SCENE} is absent")
def test_s2cloudless_wrapper_reproduces_the_shipped_mask() -> None:
    """Our call of s2cloudless gives exactly the mask its own test data holds."""
    pytest.importorskip("s2cloudless")
    from benchmarks.suite import S2CLOUDLESS_BANDS, s2cloudless_mask
    from training.datasets import read_dataset

    s = read_dataset("s2cloudless", S2_SCENE)
    s = s[0] if isinstance(s, list) else s
    rows = slice(0, 160)  # a strip keeps the test fast (LightGBM classifies ~60 k px/s here)
    names = tuple(s.band_names)
    got = s2cloudless_mask(s.bands[:, rows], names)
    reference = np.load(S2_SCENE)["cl_mask"][0]
    assert got.dtype == np.uint8
    # its averaging and dilation disks reach one pixel: the cut row may differ
    np.testing.assert_array_equal(got[:-1], reference[rows][:-1])
    nodata = np.zeros(got.shape, bool)
    nodata[:5] = True
    assert (s2cloudless_mask(s.bands[:, rows], names, nodata=nodata)[:5] == 255).all()
    with pytest.raises(ValueError, match="missing"):
        s2cloudless_mask(s.bands[:7, rows], names[:7])
    assert len(S2CLOUDLESS_BANDS) == 10


def test_shadow_scores_by_target() -> None:
    """Shadow rows score cloud, shadow and unusable ground by hand-counted confusion; the
    section pools them and a cloud-only method scores shadow recall 0."""
    from benchmarks.shadow import (
        SHADOW_POOLED,
        SHADOW_POOLED_ANNOTATED,
        shadow_rows,
        shadow_section,
        shadow_summaries,
        target_mask,
    )
    from training.mix import annotated_for_shadow

    truth = np.array([[0, 1, 2, 2, 255], [0, 0, 2, 1, 1]], np.uint8)
    mine = np.array([[0, 1, 2, 0, 1], [2, 0, 2, 2, 1]], np.uint8)
    cloud_only = np.where(truth == 2, 0, truth).astype(np.uint8)
    assert target_mask(truth, "unusable").tolist() == [[0, 1, 1, 1, 255], [0, 0, 1, 1, 1]]
    case = {"group": "ukis landsat7", "case": "ukis landsat7", "truth_shadow": truth}
    masks = {"rgbn/cascade": mine, "other/cascade": mine, "s2cloudless": cloud_only}
    rows = shadow_rows(case, masks, {"rgbn"})
    assert {(r["model"], r["method"]) for r in rows} == {
        ("rgbn", "cascade"),
        ("s2cloudless", "s2cloudless"),
    }
    got = {(r["model"], r["target"]): r for r in rows}
    # Shadow: truth at (0,2) (0,3) (1,2); mine at (0,2) (1,0) (1,2) (1,3).
    assert {k: got["rgbn", "shadow"][k] for k in ("tp", "fp", "fn", "tn")} == {
        "tp": 2,
        "fp": 2,
        "fn": 1,
        "tn": 4,
    }
    # Unusable: mine misses (0,3) and calls (1,0) unusable; the rest agree.
    assert (got["rgbn", "unusable"]["fp"], got["rgbn", "unusable"]["fn"]) == (1, 1)
    assert got["s2cloudless", "shadow"]["recall"] == 0.0
    # A Biome patch with cloud and no shadow label is not annotated for shadow: it is pooled
    # in the set, left out of the annotated one.
    unannotated = {"group": "L8 Biome val", "case": "Biome x", "truth_shadow": cloud_only}
    rows += shadow_rows(unannotated, {"rgbn/cascade": mine}, {"rgbn"})
    assert [r["annotated"] for r in rows if r["case"] == "Biome x"] == [False] * 3
    assert annotated_for_shadow(truth)
    assert annotated_for_shadow(np.zeros((2, 2), np.uint8))
    summaries = shadow_summaries(rows)
    assert {s["target"] for s in summaries} == {"cloud", "shadow", "unusable"}
    pooled = {(s["group"], s["target"]): s for s in summaries if s["model"] == "rgbn"}
    assert pooled[SHADOW_POOLED, "shadow"]["images"] == 2
    assert pooled[SHADOW_POOLED_ANNOTATED, "shadow"]["images"] == 1
    assert pooled[SHADOW_POOLED_ANNOTATED, "shadow"]["pooled"]["fp"] == 2
    # against the cloud-only labels all four of mine's shadow pixels are false positives
    assert pooled[SHADOW_POOLED, "shadow"]["pooled"]["fp"] == 2 + 4
    only_annotated = [r for r in rows if r["case"] != "Biome x"]
    text = "\n".join(shadow_section({"shadow_summaries": shadow_summaries(only_annotated)}))
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    row = next(line for line in text.splitlines() if line.replace("`", "").startswith("| rgbn"))
    cells = dict(zip(header.split("|"), row.split("|"), strict=True))
    shadow = got["rgbn", "shadow"]
    near = {"abs": 5e-4}  # the table prints three decimals
    assert float(cells[" shadow precision "]) == pytest.approx(shadow["precision"], **near)  # 2/4
    assert float(cells[" shadow recall "]) == pytest.approx(shadow["recall"], **near)  # 2/3
    assert float(cells[" cloud F1 "]) == pytest.approx(got["rgbn", "cloud"]["f1"], **near)
    assert float(cells[" usable accuracy "]) == pytest.approx(
        got["rgbn", "unusable"]["accuracy"], **near
    )
