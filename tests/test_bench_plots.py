"""Benchmark report plots: readable PNGs, routed-cell outlines, input checks, atomic writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip(
    "matplotlib", reason="the plots need the bench extra: pip install -e '.[bench]'"
)
from matplotlib.image import imread

from benchmarks import plots
from benchmarks.plots import (
    ablation_bars,
    confusion_matrices,
    speedup_vs_structure,
    time_vs_size,
)
from benchmarks.plots_masks import mask_panels

H, W, CORE = 60, 90, 20.0  # a 3 x 5 grid; the last column of cells sticks out past the edge


def read_png(path: Path) -> np.ndarray:
    """The PNG as an ``(h, w, channels)`` float array, after checking it looks like a plot."""
    image = np.asarray(imread(path))
    assert image.ndim == 3
    assert image.shape[2] in (3, 4)
    assert 200 <= image.shape[0] <= 1500
    assert 300 <= image.shape[1] <= 1500
    assert float(image[..., :3].std()) > 0.01  # not all one colour
    return image


def only_file(folder: Path, name: str) -> None:
    """``folder`` holds ``name`` and no leftover temporary files."""
    assert sorted(p.name for p in folder.iterdir()) == [name]


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:H, 0:W]
    picture = np.stack([xx / W, yy / H, 0.5 + 0 * xx]) * 0.4 + rng.normal(0, 0.01, (3, H, W))
    picture[:, :5, :5] = np.nan  # no data: must not break the stretch
    return picture


@pytest.fixture
def masks() -> list[tuple[str, np.ndarray]]:
    truth = np.zeros((H, W), np.uint8)
    truth[10:40, 30:70] = 1
    truth[:5, :5] = 255
    # The outlined panel is all cloud (white), so an orange outline stands out.
    return [("truth", truth), ("cascade", np.ones((H, W), np.uint8))]


def render(folder: Path, rgb: np.ndarray, masks: list[tuple[str, np.ndarray]], **kw: Any) -> Path:
    return mask_panels(folder / "panels.png", rgb, masks, core=CORE, **kw)


def test_mask_panels_writes_a_small_png(
    tmp_path: Path, rgb: np.ndarray, masks: list[tuple[str, np.ndarray]]
) -> None:
    folder = tmp_path / "new" / "folder"  # created on demand
    out = mask_panels(folder / "panels.png", rgb, masks, title="a scene")
    assert out == folder / "panels.png"
    read_png(out)
    assert out.stat().st_size < 400_000
    only_file(folder, "panels.png")
    # Writing again replaces the file and leaves nothing else behind.
    mask_panels(folder / "panels.png", rgb, masks[:1])
    read_png(out)
    only_file(folder, "panels.png")


def test_routed_cells_are_outlined_only_where_asked(
    tmp_path: Path, rgb: np.ndarray, masks: list[tuple[str, np.ndarray]]
) -> None:
    def picture(name: str, **kw: Any) -> np.ndarray:
        (tmp_path / name).mkdir()
        return read_png(render(tmp_path / name, rgb, masks, **kw))

    plain = picture("plain")
    grid = np.zeros((3, 5), bool)
    # No routed cell, or routed cells on no outlined panel: the same picture as without.
    assert np.array_equal(picture("none-routed", routed=grid, outline={"cascade"}), plain)
    grid[1, 2] = True
    grid[2, 4] = True  # partly outside the picture: clipped, not an error
    assert np.array_equal(picture("not-outlined", routed=grid), plain)

    outlined = picture("outlined", routed=grid, outline={"cascade"})
    assert outlined.shape == plain.shape
    changed = np.any(outlined[..., :3] != plain[..., :3], axis=-1)
    assert changed.any()
    # The outline colour (#ffa000) appears above the legend (the bottom strip, which gains a
    # "routed cell" swatch), and only on the right-hand ("cascade") third of the figure.
    r, g, b = (outlined[..., k] for k in range(3))
    orange = changed & (r > 0.85) & (g > 0.45) & (g < 0.8) & (b < 0.3)
    orange[int(0.8 * orange.shape[0]) :] = False
    assert orange.sum() > 20
    rows, cols = np.nonzero(orange)
    assert cols.min() > plain.shape[1] * 2 / 3
    assert rows.max() - rows.min() > 20  # at least a cell's height (20 px of 60 on ~240 px)


def test_shadow_is_drawn_in_its_own_colour(
    tmp_path: Path, rgb: np.ndarray, masks: list[tuple[str, np.ndarray]]
) -> None:
    # A peer that labels cloud shadow (ukis-csmask: code 2) gets a purple area and a swatch.
    truth = masks[0][1]
    shadowed = truth.copy()
    shadowed[45:55, 10:60] = 2
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = read_png(render(tmp_path / "a", rgb, [("peer", truth)]))
    shaded = read_png(render(tmp_path / "b", rgb, [("peer", shadowed)]))

    def purple(image: np.ndarray) -> int:
        r, g, b = (image[..., k] for k in range(3))
        near = (np.abs(r - 0.45) < 0.05) & (np.abs(g - 0.2) < 0.05) & (np.abs(b - 0.55) < 0.05)
        return int(near.sum())

    # The RGB panel's gradient has a few purple-ish pixels of its own; the shadow adds many.
    assert purple(shaded) > purple(plain) + 200


def test_mask_panels_rejects_bad_input(
    tmp_path: Path, rgb: np.ndarray, masks: list[tuple[str, np.ndarray]]
) -> None:
    truth = masks[0][1]
    with pytest.raises(ValueError, match=r"mask 'short' has shape \(50, 90\); expected \(60, 90\)"):
        render(tmp_path, rgb, [("short", truth[:50])])
    with pytest.raises(ValueError, match=r"rgb: got \(4, 60, 90\); expected a \(3, H, W\)"):
        render(tmp_path, np.zeros((4, H, W)), masks)
    with pytest.raises(ValueError, match=r"mask 'odd' holds values \[3\]; expected only 0"):
        render(tmp_path, rgb, [("odd", np.where(truth == 1, 3, truth).astype(np.uint8))])
    with pytest.raises(ValueError, match=r"outline names \['nope'\], which are not panels"):
        render(tmp_path, rgb, masks, outline={"nope"})
    with pytest.raises(ValueError, match=r"routed: got \(15,\); expected a 2-D"):
        render(tmp_path, rgb, masks, routed=np.ones(15, bool))
    # A full-resolution grid on a decimated picture: cells start outside the picture.
    with pytest.raises(ValueError, match=r"routed cell at row 3 / col 5, .* at most 3 x 5 cells"):
        render(tmp_path, rgb, masks, routed=np.ones((4, 6), bool), outline={"cascade"})
    with pytest.raises(ValueError, match=r"core: got 0; expected a positive cell side"):
        mask_panels(tmp_path / "x.png", rgb, masks, core=0)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


SPEEDUPS = [
    {"structure": "clear", "speedup": 5.1, "ideal_bound": 7.2, "routed_fraction": 0.02},
    {"structure": "overcast", "speedup": 4.2, "ideal_bound": 6.0, "routed_fraction": 0.05},
    {"structure": "scattered", "speedup": 1.4, "ideal_bound": 2.1, "routed_fraction": 0.45},
    {"structure": "boundary-heavy", "speedup": 0.9, "ideal_bound": 1.1, "routed_fraction": 0.88},
]


def test_speedup_vs_structure(tmp_path: Path) -> None:
    out = speedup_vs_structure(tmp_path / "speedup.png", SPEEDUPS)
    read_png(out)
    only_file(tmp_path, "speedup.png")


def test_speedup_vs_structure_rejects_bad_rows(tmp_path: Path) -> None:
    rows = [dict(row) for row in SPEEDUPS]
    del rows[1]["ideal_bound"]
    with pytest.raises(ValueError, match=r"row 1 has no 'ideal_bound' key"):
        speedup_vs_structure(tmp_path / "s.png", rows)
    with pytest.raises(ValueError, match=r"got no rows"):
        speedup_vs_structure(tmp_path / "s.png", [])
    with pytest.raises(ValueError, match=r"row 0 'routed_fraction': got 1.5; expected a fraction"):
        speedup_vs_structure(tmp_path / "s.png", [{**SPEEDUPS[0], "routed_fraction": 1.5}])
    with pytest.raises(ValueError, match=r"row 0 'speedup': expected a number, got 'fast'"):
        speedup_vs_structure(tmp_path / "s.png", [{**SPEEDUPS[0], "speedup": "fast"}])
    assert list(tmp_path.iterdir()) == []


def test_time_vs_size(tmp_path: Path) -> None:
    rows = [
        {"method": method, "megapixels": mp, "seconds": mp * k}
        for method, k in (("cascade", 0.5), ("patch baseline", 2.0))
        for mp in (16.0, 1.0, 4.0)  # unsorted on purpose
    ]
    read_png(time_vs_size(tmp_path / "time.png", rows))
    only_file(tmp_path, "time.png")
    with pytest.raises(ValueError, match=r"row 0 has no 'seconds' key"):
        time_vs_size(tmp_path / "t.png", [{"method": "a", "megapixels": 1.0}])
    with pytest.raises(ValueError, match=r"row 0: got megapixels=0.0, seconds=1.0; expected both"):
        time_vs_size(tmp_path / "t.png", [{"method": "a", "megapixels": 0.0, "seconds": 1.0}])


def test_confusion_matrices(tmp_path: Path) -> None:
    long_title = "Landsat 7, rgbn pair, cascade router, a title far too long for one line"
    items: list[tuple[str, dict[str, Any]]] = [
        (long_title, {"tp": 12_345, "fp": 234, "fn": 3_456, "tn": 987_654}),
        ("no cloud in the truth", {"tp": 0, "fp": 10, "fn": 0, "tn": 100}),  # row of zeros
        ("numpy counts", {"tp": np.int64(5), "fp": np.int64(1), "fn": 2, "tn": 9}),
    ]
    read_png(confusion_matrices(tmp_path / "conf.png", items, columns=2))
    only_file(tmp_path, "conf.png")


def test_confusion_matrices_rejects_bad_items(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"got no items; expected at least one"):
        confusion_matrices(tmp_path / "c.png", [])
    with pytest.raises(ValueError, match=r"items\[0\] \('a'\): no 'fn' key"):
        confusion_matrices(tmp_path / "c.png", [("a", {"tp": 1, "fp": 2, "tn": 3})])
    with pytest.raises(ValueError, match=r"'tn' is -3; expected a count"):
        confusion_matrices(tmp_path / "c.png", [("a", {"tp": 1, "fp": 2, "fn": 0, "tn": -3})])
    with pytest.raises(ValueError, match=r"columns: got 0; expected an integer >= 1"):
        confusion_matrices(
            tmp_path / "c.png", [("a", {"tp": 1, "fp": 2, "fn": 0, "tn": 3})], columns=0
        )
    assert list(tmp_path.iterdir()) == []


ABLATION = [
    {"loss": "CCE", "coarse_accuracy": 0.91, "pixel_accuracy": 0.95, "s_dn": 0.12},
    {"loss": "WCE", "coarse_accuracy": 0.93, "pixel_accuracy": None, "s_dn": 0.10},
    {"loss": "WCE + adjacency", "coarse_accuracy": 0.94, "pixel_accuracy": 0.96, "s_dn": None},
]
METRICS = ["coarse_accuracy", "pixel_accuracy", "s_dn"]


def test_ablation_bars(tmp_path: Path) -> None:
    read_png(ablation_bars(tmp_path / "ablation.png", ABLATION, METRICS))
    only_file(tmp_path, "ablation.png")
    # A metric without any value still draws (n/a everywhere).
    rows = [{"loss": row["loss"], "s_dn": None} for row in ABLATION]
    read_png(ablation_bars(tmp_path / "ablation.png", rows, ["s_dn"]))
    # Means over seeds with their spread: error bars, small values in two significant digits.
    rows = [{"loss": "a", "s_dn": 0.00087, "s_dn_sd": 0.0015}]
    rows += [{"loss": k, "s_dn": 0.0} for k in "bcd"]
    read_png(ablation_bars(tmp_path / "ablation.png", rows, ["s_dn"]))
    assert (plots._short(0.00087), plots._short(0.0), plots._short(0.857)) == (
        "8.7e-04",
        "0.000",
        "0.857",
    )
    assert plots._sd({"x_sd": 0.0}, "x") is None
    assert plots._sd({"x_sd": 0.02}, "x") == 0.02


def test_ablation_bars_rejects_bad_rows(tmp_path: Path) -> None:
    rows = [dict(row) for row in ABLATION]
    del rows[2]["s_dn"]
    with pytest.raises(ValueError, match=r"row 2 has no 's_dn' key"):
        ablation_bars(tmp_path / "a.png", rows, METRICS)
    with pytest.raises(ValueError, match=r"got no metrics"):
        ablation_bars(tmp_path / "a.png", ABLATION, [])
    with pytest.raises(ValueError, match=r"row 0 'coarse_accuracy': expected a number, got 'high'"):
        ablation_bars(tmp_path / "a.png", [{**ABLATION[0], "coarse_accuracy": "high"}], METRICS)
    assert list(tmp_path.iterdir()) == []


def test_plotting_leaves_pyplot_alone(tmp_path: Path) -> None:
    """No figure is left open in pyplot and its backend is not switched."""
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    time_vs_size(tmp_path / "t.png", [{"method": "a", "megapixels": 1.0, "seconds": 1.0}])
    assert plt.get_fignums() == []
    assert matplotlib.get_backend() == before
