"""The accuracy section of the benchmark report."""

from __future__ import annotations

from typing import Any

from benchmarks.report_format import _METHOD, _source, _table
from benchmarks.shadow import shadow_section
from benchmarks.suite import Suite

__all__ = ["accuracy_section"]


def accuracy_section(suite: Suite, r: dict[str, Any]) -> list[str]:
    coarse = {(c["group"], c["model"]): c for c in r["coarse"]}
    # per (group, model): mean over images of the coarse scores
    cgroups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in r["coarse"]:
        cgroups.setdefault((c["group"], c["model"]), []).append(c)

    def cmean(group: str, model: str, key: str) -> float | None:
        vals = [c[key] for c in cgroups.get((group, model), []) if c[key] is not None]
        return sum(vals) / len(vals) if vals else None

    del coarse
    lines = [
        "## Accuracy",
        "",
        "Cloud is the positive class (cloud shadow counts as not cloud); pixels without data or "
        "label are left out. `cascade`, `all` and `none` use the same loaded model pair; "
        "s2cloudless runs only where its ten Sentinel-2 bands exist (the simulated scenes are "
        "made with all 13), ukis-csmask's 4-band model wherever Blue, Green, Red and NIR exist "
        "and its 6-band model where SWIR1 and SWIR2 do too. Simulated scenes are scored against "
        "their exact labels (the shipped models' target) and the paper-style annotation (thin "
        "cloud included, dilated 10 px); the s2cloudless scene measures *agreement* with "
        "s2cloudless's own mask. The real labelled images are also pooled into one group. "
        "Coarse accuracy: predicted cell classes against the grid pooled from the labels; "
        "S_dn: share of the possible Overcast/Cloudless adjacencies in the predicted grid "
        "(0 is the goal).",
        "",
        "### Summary (pooled over the images of a group)",
        "",
    ]
    rows = []
    for s in r["summaries"]:
        p = s["pooled"]
        is_model = s["method"] in ("cascade", "all", "none")
        rows.append(
            [
                s["group"],
                s["images"],
                s["model"] if is_model else "-",
                _METHOD[s["method"]],
                p["accuracy"],
                p["precision"],
                p["recall"],
                p["f1"],
                p["iou"],
                s["mean"]["f1"],
                cmean(s["group"], s["model"], "coarse_accuracy") if is_model else None,
                cmean(s["group"], s["model"], "s_dn") if is_model else None,
            ]
        )
    lines.append(
        _table(
            [
                "data",
                "images",
                "model",
                "method",
                "accuracy",
                "precision",
                "recall",
                "F1",
                "IoU",
                "mean F1",
                "coarse acc.",
                "S_dn",
            ],
            rows,
        )
    )
    return lines + shadow_section(r) + _per_image(suite, r)


def _per_image(suite: Suite, r: dict[str, Any]) -> list[str]:
    lines = ["", "### Per image: confusion-matrix statistics", ""]
    rows = []
    for row in r["rows"]:
        rows.append(
            [
                row["case"],
                row["model"] if row["method"] in ("cascade", "all", "none") else "-",
                _METHOD[row["method"]],
                row["accuracy"],
                row["tpr"],
                row["tnr"],
                row["fpr"],
                row["fnr"],
                row["ppv"],
                row["npv"],
                row["fdr"],
                row["for"],
                row["balanced_accuracy"],
                row["prevalence"],
                row["lr_plus"],
                row["lr_minus"],
                row["patches_run"] if row["patches_run"] is not None else "-",
            ]
        )
    lines.append(
        _table(
            [
                "image",
                "model",
                "method",
                "acc.",
                "TPR",
                "TNR",
                "FPR",
                "FNR",
                "PPV",
                "NPV",
                "FDR",
                "FOR",
                "bal. acc.",
                "prev.",
                "LR+",
                "LR-",
                "fine patches",
            ],
            rows,
        )
    )
    return lines + _coarse_and_pictures(suite, r)


def _coarse_and_pictures(suite: Suite, r: dict[str, Any]) -> list[str]:
    lines = ["", "Coarse stage per image:", ""]
    lines.append(
        _table(
            ["image", "model", "grid", "coarse accuracy", "S_dn (pred.)", "S_dn (labels)"],
            [
                [
                    c["case"],
                    c["model"],
                    "x".join(map(str, c["grid"])),
                    c["coarse_accuracy"],
                    c["s_dn"],
                    c["s_dn_labels"],
                ]
                for c in r["coarse"]
            ],
        )
    )
    s2 = [row for row in r["rows"] if row["method"] == "s2cloudless" and row.get("pixels_per_s")]
    if s2:
        rate = sum(x["pixels_per_s"] for x in s2) / len(s2)
        lines += [
            "",
            f"s2cloudless at 10 m classified {rate:,.0f} pixels/s on average here "
            f"({len(s2)} scene(s)).",
        ]
    lines += ["", "Mask panels (routed cells outlined on the cascade panel):", ""]
    lines += [f"![mask panels]({f})" for f in r["figures"]["panels"]]
    lines += [
        "",
        f"![confusion matrices]({r['figures']['confusion']})",
        "",
        _source(suite, "accuracy"),
    ]
    return lines
