"""The report's sections on the paper's tables: the loss ablation (Table IV) and the coarse
encoders (Table III)."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.report_format import _seconds, _source, _table
from benchmarks.suite import Suite

__all__ = ["PAPER_TABLE_IV", "ablation_section", "encoders_section"]

PAPER_TABLE_IV = {
    "CCE": (0.813, 0.718, 0.09781),
    "WCE": (0.855, 0.812, 0.01778),
    "WCE + adjacency": (0.846, 0.809, 0.00968),
}
_ABLATION_HEADER = ["loss", "coarse accuracy", "pixel accuracy", "pixel F1", "S_dn"]
_ABLATION_HEADER += ["fine patches", "train s (per seed)"]
_STAGE1 = "WCE stage 1"


def _mean_sd(row: dict[str, Any], key: str, digits: int) -> str:
    sd = row.get(f"{key}_sd")
    value = f"{row[key]:.{digits}f}"
    return value if sd is None or row.get("seeds", 1) < 2 else f"{value} ± {sd:.{digits}f}"


def _trained(r: dict[str, Any], arm: str) -> list[dict[str, Any]]:
    """The training records of ``arm``, one per seed."""
    return [t for k, t in r["trained"].items() if k.startswith(f"{arm} (")]


def _ablation_row(r: dict[str, Any], row: dict[str, Any]) -> list[Any]:
    seconds = [t["seconds"] for t in _trained(r, row["loss"])]
    seconds += [r["trained"][row["loss"]]["seconds"]] if row["loss"] in r["trained"] else []
    return [
        row["loss"],
        _mean_sd(row, "coarse_accuracy", 4),
        _mean_sd(row, "pixel_accuracy", 4),
        _mean_sd(row, "pixel_f1", 4),
        _mean_sd(row, "s_dn", 5),
        row["patches_run"],
        _seconds(sum(seconds) / len(seconds)) if seconds else "-",
    ]


def _arms_text(r: dict[str, Any]) -> str:
    """What the arms of an ablation record were trained with."""
    arms = r.get("arms")
    if arms is None:
        return (
            " (a record made before the losses were checked against the paper, with our "
            "earlier reading: CCE; WCE: a class-weighted categorical cross entropy, alpha = "
            "(1, 1.5, 1, 0.5), beta = (1, 0.8, 1, 1); WCE + adjacency: the second stage adds a "
            "penalty on predicted Overcast/Cloudless adjacencies; S_dn divided by 4 (m - 1)(n - "
            "1) instead of Eq. 5's 4 m n; see docs/paper.md)"
        )
    text = (
        ", as in the paper's Section V-D (CCE: unweighted categorical cross entropy; WCE: "
        "Eq. 2 with alpha = 2, beta = 0.5 for Partly Cloudy; WCE + adjacency: the second "
        "stage adds Eq. 3 with gamma = 1 and the paper's pair weights)"
    )
    if any(a.get("from_wce_stage") for a in arms.values()):
        text += (
            ". The two WCE arms share one first stage per seed and start their second stage "
            "from its weights with a fresh optimiser (the paper's \"second stage started from "
            'the WCE weights"), so they differ only in gamma'
        )
    return text


def _val_curve(r: dict[str, Any], arm: str) -> list[float] | None:
    """The validation coarse accuracy per epoch of ``arm``, both stages, mean over seeds."""
    curves = []
    for seed_key, t in r["trained"].items():
        if not seed_key.startswith(f"{arm} ("):
            continue
        h = t["history"]
        first = h.get("wce")
        if first is None:  # from the shared first stage of this seed
            first = r["trained"][seed_key.replace(arm, _STAGE1, 1)]["history"]["wce"]
        epochs = [first["epochs"], *([h["adjacency"]["epochs"]] if "adjacency" in h else [])]
        curves.append([v for e in epochs for v in e.get("val_coarse_accuracy", [])])
    if not curves or not all(curves) or len({len(c) for c in curves}) != 1:
        return None
    return [float(v) for v in np.mean(np.array(curves), axis=0)]


def _convergence(r: dict[str, Any]) -> list[str]:
    rows = []
    for arm in r.get("arms", {}):
        curve = _val_curve(r, arm)
        if curve and len(curve) >= 4:
            rows.append([arm, *[f"{v:.3f}" for v in curve[-4:]], f"{max(curve):.3f}"])
    if not rows:
        return []
    return [
        "",
        "Has training stopped moving? Validation coarse accuracy (the set's held-out crops, "
        "mean over seeds) at each arm's last four epochs, and its best epoch:",
        "",
        _table(["loss", "epoch -3", "epoch -2", "epoch -1", "last", "best"], rows),
    ]


def _paired(r: dict[str, Any]) -> tuple[list[str], dict[str, tuple[float, float]]]:
    """WCE + adjacency minus WCE, seed by seed (they share a first stage): mean and sd."""
    runs = r.get("runs", [])
    by = {(x["loss"], x["seed"]): x for x in runs}
    seeds = sorted({x["seed"] for x in runs})
    diffs: dict[str, tuple[float, float]] = {}
    for m in ("coarse_accuracy", "pixel_accuracy", "s_dn"):
        d = [
            by[("WCE + adjacency", s)][m] - by[("WCE", s)][m]
            for s in seeds
            if ("WCE + adjacency", s) in by and ("WCE", s) in by
        ]
        if len(d) >= 2:
            diffs[m] = (float(np.mean(d)), float(np.std(d, ddof=1)))
    if not diffs:
        return [], diffs
    text = ", ".join(f"{m} {mu:+.4f} ± {sd:.4f}" for m, (mu, sd) in diffs.items())
    return ["", f"Paired, seed by seed, WCE + adjacency minus WCE: {text}."], diffs


def _ordering(rows: dict[str, dict[str, Any]], diffs: dict[str, tuple[float, float]]) -> str:
    """Whether the paper's orderings hold here, and whether the spread lets one say so."""

    def differs(a: str, b: str, m: str) -> str:
        gap = rows[a][m] - rows[b][m]
        spread = max(rows[a].get(f"{m}_sd", 0.0), rows[b].get(f"{m}_sd", 0.0))
        sign = ">" if gap > 0 else "<" if gap < 0 else "="
        sure = "beyond" if spread and abs(gap) > 2 * spread else "within"
        return f"{a} {sign} {b} ({gap:+.4f}, {sure} twice the larger seed sd {spread:.4f})"

    if not all(k in rows for k in ("CCE", "WCE", "WCE + adjacency")):
        return ""
    parts = [
        "The paper's orderings on our data: coarse accuracy "
        + differs("WCE", "CCE", "coarse_accuracy")
        + " (paper: WCE > CCE); S_dn "
        + differs("CCE", "WCE", "s_dn")
        + " (paper: CCE >> WCE) and "
        + differs("WCE", "WCE + adjacency", "s_dn")
        + " (paper: WCE > WCE + adjacency)."
    ]
    if "s_dn" in diffs:
        mu, sd = diffs["s_dn"]
        parts.append(
            f" Paired, the adjacency stage changes S_dn by {mu:+.5f} ± {sd:.5f} over the seeds."
        )
    return "".join(parts)


def ablation_section(suite: Suite, r: dict[str, Any]) -> list[str]:
    p = r["profile"]
    ts = r["training_set"]
    lines = [
        "## Loss ablation (paper Table IV)",
        "",
        f"Coarse models (MobileNetV2 encoder) trained on the same simulated set "
        f"({len(r['training_scenes'])} scenes of {p['ablation_size']} px: "
        f"{ts['per_split']['train']} training and {ts['per_split']['val']} validation crops "
        f"of {ts['sample_shape'][0]} x {ts['sample_shape'][1]} coarse pixels) for "
        f"{p['ablation_epochs']} + {p['ablation_finetune_epochs']} epochs of "
        f"{p['ablation_steps']} steps; only the loss differs{_arms_text(r)}. Each is paired "
        "with the shipped fine model and scored on "
        f"{len(r['eval_scenes'])} held-out simulated scene(s) against the paper-style labels. "
        "The shipped pair (trained longer on more data) is shown for reference.",
        "",
    ]
    steps = (p["ablation_epochs"] + p["ablation_finetune_epochs"]) * p["ablation_steps"]
    if steps < 100:
        lines += [
            f"**Smoke scale:** {steps} training steps per arm only check that the ablation runs "
            "end to end; these scores say nothing about the losses (see the full profile).",
            "",
        ]
    lines.append(_table(_ABLATION_HEADER, [_ablation_row(r, row) for row in r["rows"]]))
    paired, diffs = _paired(r)
    ordering = _ordering({row["loss"]: row for row in r["rows"]}, diffs)
    lines += [
        "",
        f"Means over {r.get('seeds', 1)} training seed(s) per arm, ± their standard deviation"
        " (train s of a WCE arm: its second stage; the shared first stage is its own line of "
        "the results file).",
        *paired,
        *(["", ordering] if ordering and r.get("seeds", 1) >= 2 else []),
        *_convergence(r),
        "",
        "The paper's Table IV (ResNet-50 coarse model, its 454 labelled scenes, 131 + 14 "
        "epochs; pixel accuracy with a ResNet-50/U-Net fine model) for comparison:",
        "",
        _table(
            ["loss", "coarse accuracy", "pixel accuracy", "S_dn"],
            [
                [name, f"{c:.3f}", f"{a:.3f}", f"{d:.5f}"]
                for name, (c, a, d) in PAPER_TABLE_IV.items()
            ],
        ),
    ]
    lines += ["", f"![loss ablation]({r['figures']['ablation']})", "", _source(suite, "ablation")]
    return lines


_ENCODER_COLS = ("pixel_accuracy", "pixel_precision", "pixel_recall", "pixel_f1", "pixel_iou")


def encoders_section(suite: Suite, r: dict[str, Any]) -> list[str]:
    p = r["profile"]
    ts = r["training_set"]
    rows = []
    for row in r["rows"]:
        enc = r["trained"].get(row["loss"].split(" -> ")[0]) if row["encoder"] else None
        rows.append(
            [
                row["loss"],
                *[row[c] for c in _ENCODER_COLS],
                row["coarse_accuracy"] if row["router"] != "all" else "-",
                row["patches_run"],
                _seconds(enc["seconds"]) if enc else "-",
            ]
        )
    paper = [[k, *v.values()] for k, v in r["paper"].items()]
    lines = [
        "## Coarse encoders (paper Table III)",
        "",
        f"One coarse model per encoder ({', '.join(r['trained'])}; weights: "
        + ", ".join(f"{k} {v / 1e6:.1f} M" for k, v in r["params"].items())
        + "), each cut at its stride-32 bottleneck, trained with the loss ablation's WCE "
        f"recipe (gamma = 0, as for the paper's Table III) on its set ({ts['per_split']['train']}"
        f" training crops) for {p['ablation_epochs']} + {p['ablation_finetune_epochs']} epochs "
        f"of {p['ablation_steps']} steps, one seed. Each is paired with the shipped "
        "sentinel2-l1c-7 fine model and scored on the ablation's "
        f"{len(r['eval_scenes'])} held-out simulated scenes: `-> Fine` is the cascade, "
        "`-> None` coarse only (Partly Cloudy cells become cloud), the patch baseline runs the "
        "fine model on every window. Pixel scores pool the scenes' pixels (cloud positive).",
        "",
        _table(
            [
                "model",
                "acc.",
                "prec.",
                "recall",
                "F1",
                "IoU",
                "coarse acc.",
                "fine windows",
                "train s",
            ],
            rows,
        ),
        "",
        "The paper's Table III (its 24 Sentinel-2 test scenes with hand-drawn masks; fine model "
        'FPN/SEResNeXt-50, "CNN baseline" its patch model) for comparison:',
        "",
        _table(["model", "acc.", "prec.", "recall", "F1", "IoU"], paper),
        "",
        _source(suite, "encoders"),
    ]
    return lines
