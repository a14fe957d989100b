"""PNG plots for the benchmark report (``docs/benchmarks.md``); mask panels are in
:mod:`benchmarks.plots_masks`.

Every function validates its input (``ValueError`` saying what was received and what was
expected), draws on a matplotlib ``Figure`` without pyplot (Agg renderer), writes the PNG atomically
(parent folder created if missing) and returns its path. Masks use the engine's codes:
0 clear, 1 cloud, 255 no data.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cascade.io.files import atomic_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ablation_bars",
    "confusion_matrices",
    "speedup_vs_structure",
    "time_vs_size",
]

DPI = 100
MAX_WIDTH_IN = 14.0  # 1400 px at DPI

CLEAR_RGB = (0.13, 0.16, 0.24)  # dark grey-blue
CLOUD_RGB = (1.0, 1.0, 1.0)
NODATA_RGB = (0.55, 0.55, 0.55)
SHADOW_RGB = (0.45, 0.2, 0.55)  # purple: cloud shadow, where a method labels it
OUTLINE_COLOR = "#ffa000"  # orange-yellow
MEASURED_COLOR = "#1f77b4"
IDEAL_COLOR = "#c7c7c7"

SPEEDUP_KEYS = ("structure", "speedup", "ideal_bound", "routed_fraction")
TIME_KEYS = ("method", "megapixels", "seconds")
CONFUSION_KEYS = ("tp", "fp", "fn", "tn")


# --------------------------------------------------------------------------------------------
# Shared helpers


@contextlib.contextmanager
def _new_figure(width: float, height: float) -> Iterator[Figure]:
    """A constrained-layout figure of ``width`` x ``height`` inches.

    Made without pyplot, so no global backend or figure list is touched: saving to PNG uses
    matplotlib's Agg renderer whatever backend the calling program has chosen.
    """
    from matplotlib.figure import Figure

    yield Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` as PNG, atomically; create the folder if missing."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor="white")
    return out


def _check_rows(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str], what: str
) -> list[Mapping[str, Any]]:
    """``rows`` as a list; ValueError if empty or if a row is not a mapping or lacks a key."""
    if isinstance(rows, Mapping | str) or not isinstance(rows, Sequence):
        raise ValueError(f"{what}: expected a sequence of mappings, got {type(rows).__name__}")
    out = list(rows)
    if not out:
        raise ValueError(f"{what}: got no rows; expected at least one with keys {list(keys)}")
    for index, row in enumerate(out):
        if not isinstance(row, Mapping):
            raise ValueError(
                f"{what}: row {index} is a {type(row).__name__}, expected a mapping with keys "
                f"{list(keys)}"
            )
        for key in keys:
            if key not in row:
                raise ValueError(
                    f"{what}: row {index} has no {key!r} key (it has {sorted(map(str, row))}); "
                    f"each row needs {list(keys)}"
                )
    return out


def _number(value: Any, what: str) -> float:
    """``value`` as a finite float; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{what}: expected a number, got {value!r} ({type(value).__name__})")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{what}: expected a finite number, got {out}")
    return out


def _text(value: Any, what: str) -> str:
    """``value`` as a non-empty string; ValueError otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: expected a non-empty string, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------
# Speed-up and timing


def speedup_vs_structure(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Grouped bars per cloud structure: measured speed-up next to the ideal bound.

    Rows: ``structure`` (str), ``speedup`` (t_all / t_cascade), ``ideal_bound``
    (1 / (f + c)) and ``routed_fraction`` (f, 0..1), printed above each group.
    """
    checked = _check_rows(rows, SPEEDUP_KEYS, "speedup_vs_structure")
    names, measured, ideal, fractions = [], [], [], []
    for i, row in enumerate(checked):
        names.append(_text(row["structure"], f"row {i} 'structure'"))
        measured.append(_number(row["speedup"], f"row {i} 'speedup'"))
        ideal.append(_number(row["ideal_bound"], f"row {i} 'ideal_bound'"))
        f = _number(row["routed_fraction"], f"row {i} 'routed_fraction'")
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"row {i} 'routed_fraction': got {f}; expected a fraction in 0..1")
        fractions.append(f)
    if min(measured + ideal) < 0:
        raise ValueError(f"speed-ups must not be negative; got {measured} and bounds {ideal}")

    x = np.arange(len(names), dtype=np.float64)
    bar = 0.38
    with _new_figure(min(MAX_WIDTH_IN, 2.0 + 1.6 * len(names)), 4.8) as fig:
        ax = fig.add_subplot()
        left = ax.bar(x - bar / 2, measured, bar, color=MEASURED_COLOR, label="measured")
        right = ax.bar(
            x + bar / 2, ideal, bar, color=IDEAL_COLOR, edgecolor="0.4", label="ideal 1 / (f + c)"
        )
        ax.bar_label(left, fmt="%.2f", fontsize=8, padding=2)
        ax.bar_label(right, fmt="%.2f", fontsize=8, padding=2)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1.0, label="no speed-up")
        for xi, f, top in zip(x, fractions, np.maximum(measured, ideal), strict=True):
            ax.annotate(
                f"f = {f:.2f}",
                (float(xi), float(top)),
                xytext=(0, 14),
                textcoords="offset points",
                ha="center",
                fontsize=9,
                fontweight="bold",
            )
        ax.set_xticks(x, [textwrap.fill(name, 14) for name in names])
        ax.set_ylim(0, max(max(measured), max(ideal), 1.0) * 1.25)
        ax.set_xlabel("cloud structure")
        ax.set_ylabel("speed-up over patch baseline (x)")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize=8, frameon=False)
        return _save(fig, path)


def time_vs_size(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Wall time against scene size, one line per method, both axes logarithmic.

    Rows: ``method`` (str), ``megapixels`` and ``seconds`` (both positive).
    """
    checked = _check_rows(rows, TIME_KEYS, "time_vs_size")
    series: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(checked):
        method = _text(row["method"], f"row {i} 'method'")
        mp = _number(row["megapixels"], f"row {i} 'megapixels'")
        sec = _number(row["seconds"], f"row {i} 'seconds'")
        if mp <= 0 or sec <= 0:
            raise ValueError(
                f"row {i}: got megapixels={mp}, seconds={sec}; expected both positive "
                "(the axes are logarithmic)"
            )
        series.setdefault(method, []).append((mp, sec))

    markers = "osD^vP*Xh<>"
    with _new_figure(8.0, 5.0) as fig:
        ax = fig.add_subplot()
        for k, (method, points) in enumerate(series.items()):
            xs, ys = zip(*sorted(points), strict=True)
            ax.plot(xs, ys, marker=markers[k % len(markers)], linewidth=1.5, label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("scene size (megapixels)")
        ax.set_ylabel("wall time (s)")
        ax.grid(which="major", alpha=0.4)
        ax.grid(which="minor", alpha=0.15)
        ax.legend(fontsize=9)
        return _save(fig, path)


# --------------------------------------------------------------------------------------------
# Confusion matrices and ablation


def _counts(counts: Any, what: str) -> dict[str, int]:
    if not isinstance(counts, Mapping):
        raise ValueError(
            f"{what}: got {type(counts).__name__}; expected a mapping with keys "
            f"{list(CONFUSION_KEYS)}"
        )
    out = {}
    for key in CONFUSION_KEYS:
        if key not in counts:
            raise ValueError(
                f"{what}: no {key!r} key (it has {sorted(map(str, counts))}); expected "
                f"{list(CONFUSION_KEYS)}"
            )
        value = counts[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer | float | np.floating)
            or not math.isfinite(value)
            or value != int(value)
            or value < 0
        ):
            raise ValueError(f"{what}: {key!r} is {value!r}; expected a count (integer >= 0)")
        out[key] = int(value)
    return out


def confusion_matrices(
    path: str | Path, items: Sequence[tuple[str, Mapping[str, int]]], *, columns: int = 4
) -> Path:
    """A grid of 2 x 2 confusion matrices, cloud positive, coloured by row fraction.

    Each item is a title and counts ``tp``, ``fp``, ``fn``, ``tn``. Rows are the truth
    (cloud, clear), columns the prediction (cloud, clear); each cell shows the count and its
    share of the truth row. A truth row without pixels is shown grey, "n/a".
    """
    entries = list(items)
    if not entries:
        raise ValueError("confusion_matrices: got no items; expected at least one (title, counts)")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns: got {columns!r}; expected an integer >= 1")
    parsed: list[tuple[str, dict[str, int]]] = []
    for index, item in enumerate(entries):
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise ValueError(f"items[{index}]: got {item!r}; expected a (title, counts) pair")
        title = _text(item[0], f"items[{index}] title")
        parsed.append((title, _counts(item[1], f"items[{index}] ({title!r})")))

    ncols = min(columns, len(parsed))
    nrows = math.ceil(len(parsed) / ncols)
    cell_w = min(2.8, (MAX_WIDTH_IN - 1.0) / ncols)
    with _new_figure(cell_w * ncols + 1.0, (cell_w + 0.5) * nrows) as fig:
        import matplotlib as mpl

        cmap = mpl.colormaps["Blues"].with_extremes(bad="0.85")
        axes = fig.subplots(nrows, ncols, squeeze=False)
        image = None
        wrap = max(12, int(cell_w * 11))
        for k, ax in enumerate(axes.flat):
            if k >= len(parsed):
                ax.set_axis_off()
                continue
            title, c = parsed[k]
            counts = np.array([[c["tp"], c["fn"]], [c["fp"], c["tn"]]], dtype=np.int64)
            totals = counts.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)
            image = ax.imshow(np.ma.masked_invalid(frac), cmap=cmap, vmin=0.0, vmax=1.0)
            for (r, col), count in np.ndenumerate(counts):
                share = frac[r, col]
                text = f"{count:,}\n" + ("n/a" if np.isnan(share) else f"{100 * share:.1f} %")
                dark = not np.isnan(share) and share > 0.55
                ax.text(
                    col, r, text, ha="center", va="center", fontsize=8,
                    color="white" if dark else "black",
                )  # fmt: skip
            ax.set_xticks([0, 1], ["cloud", "clear"], fontsize=8)
            ax.set_yticks([0, 1], ["cloud", "clear"], fontsize=8)
            ax.set_xlabel("predicted", fontsize=8)
            ax.set_ylabel("truth", fontsize=8)
            ax.set_title(textwrap.fill(title, wrap), fontsize=9)
        if image is not None:
            bar = fig.colorbar(image, ax=axes, shrink=0.8, fraction=0.04)
            bar.set_label("fraction of truth row", fontsize=8)
            bar.ax.tick_params(labelsize=8)
        return _save(fig, path)


def _sd(row: Mapping[str, Any], metric: str) -> float | None:
    """A row's ``<metric>_sd`` (the spread over seeds), when it is a positive number."""
    sd = row.get(f"{metric}_sd")
    return float(sd) if isinstance(sd, int | float) and math.isfinite(sd) and sd > 0 else None


def _short(value: float) -> str:
    """Three decimals, or two significant digits for small non-zero values."""
    return f"{value:.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.1e}"


def ablation_bars(
    path: str | Path, rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]
) -> Path:
    """One subplot per metric with a bar per loss and its value (3 decimals), and an error
    bar where the row has a positive ``<metric>_sd`` (the spread over seeds).

    Rows: ``loss`` (str) and a number or ``None`` under each metric name; ``None`` (or NaN)
    draws no bar and writes "n/a".
    """
    if isinstance(metrics, str):
        raise ValueError(f"metrics: got the string {metrics!r}; expected a sequence of names")
    names = list(metrics)
    if not names:
        raise ValueError("ablation_bars: got no metrics; expected at least one metric name")
    checked = _check_rows(rows, ["loss", *names], "ablation_bars")
    losses = [_text(row["loss"], f"row {i} 'loss'") for i, row in enumerate(checked)]
    values: dict[str, list[float | None]] = {}
    for metric in names:
        column: list[float | None] = []
        for i, row in enumerate(checked):
            raw = row[metric]
            value = None if raw is None else _number_or_nan(raw, f"row {i} {metric!r}")
            column.append(value)
        values[metric] = column

    colors = [f"C{k}" for k in range(10)]
    x = np.arange(len(losses), dtype=np.float64)
    panel_w = min(max(2.4, 0.75 * len(losses) + 0.8), (MAX_WIDTH_IN - 0.2) / len(names))
    with _new_figure(panel_w * len(names) + 0.2, 3.8) as fig:
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        for ax, metric in zip(axes, names, strict=True):
            column = values[metric]
            sds = [_sd(row, metric) for row in checked]
            present = [v + (sd or 0.0) for v, sd in zip(column, sds, strict=True) if v is not None]
            lo = min([0.0, *present])
            hi = max([0.0, *present])
            if hi == lo:
                hi = lo + 1.0
            span = hi - lo
            for xi, value, sd, k in zip(x, column, sds, range(len(losses)), strict=True):
                if value is None:
                    ax.text(xi, lo + 0.03 * span, "n/a", ha="center", va="bottom", fontsize=8)
                    continue
                ax.bar(xi, value, 0.7, color=colors[k % len(colors)])
                top = value
                if sd:  # the spread over seeds
                    ax.errorbar(xi, value, yerr=sd, color="black", capsize=3, linewidth=1)
                    top = value + sd if value >= 0 else value
                ax.text(
                    xi, top + (0.01 if value >= 0 else -0.01) * span, _short(value),
                    ha="center", va="bottom" if value >= 0 else "top", fontsize=8,
                )  # fmt: skip
            ax.set_ylim(lo - (0.12 * span if lo < 0 else 0.0), hi + 0.12 * span)
            ax.set_xticks(x, [textwrap.fill(loss, 12) for loss in losses], fontsize=8)
            ax.set_title(metric, fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
            ax.tick_params(axis="y", labelsize=8)
        return _save(fig, path)


def _number_or_nan(value: Any, what: str) -> float | None:
    """A finite number as float, NaN as ``None``; ValueError for anything else."""
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    return _number(value, what)
