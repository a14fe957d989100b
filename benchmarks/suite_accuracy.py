"""Accuracy suite: cascade, patch baseline, coarse-only, s2cloudless and ukis-csmask on the
same images.

Images (each as far as its bands allow):

- held-out simulated Sentinel-2 scenes (13 bands over the real cloud-free Virginia subset,
  seeds from the profile, none among the training seeds), scored against both label styles:
  the exact labels (cloud where the cloud's visible reflectance exceeds 0.055, the shipped
  models' target) and the paper-style annotation (thin cloud included, dilated 10 px). Both
  shipped pairs, s2cloudless and ukis-csmask run on them;
- the real labelled images of ``../shared/data``: ukis Landsat 7 and 5 (reference labels),
  the 38-Cloud patch and the eight L8 Biome validation patches (human labels), with Blue, Green,
  Red, NIR (``rgbn`` pair) and, except 38-Cloud, SWIR1 and SWIR2 (ukis-csmask's 6-band model);
  pooled together as the group :data:`REAL_POOLED`, the headline of the real-image accuracy;
- the s2cloudless test scene: *agreement* with s2cloudless's own mask (both pairs).

Cloud is the positive class; cloud shadow counts as not cloud (:mod:`benchmarks.shadow` scores
shadow and the usable-ground mask on the images with shadow labels). Per image and method: the
confusion matrix and every statistic of :mod:`benchmarks.stats`; per image and model: the coarse
stage's cell accuracy against the grid pooled from the labels and its S_dn (Overcast next to
Cloudless). Summaries: mean over images and pooled, per group of images. Pictures: mask panels
with the routed cells outlined, confusion matrices.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import plots, plots_masks
from benchmarks.peers import ukis_bands, ukis_mask
from benchmarks.shadow import shadow_rows, shadow_summaries
from benchmarks.stats import coarse_accuracy, s_dn, scores, summarize
from benchmarks.suite import ROUTERS, S2CLOUDLESS_BANDS, Suite, s2cloudless_mask, warm_up
from cascade.classes import CLEAR, SHADOW

PAIRS = ("sentinel2-l1c-7", "rgbn")
PEERS = ("s2cloudless", "ukis-csmask 4b", "ukis-csmask 6b")
# The real labelled groups pooled for the headline (cloud vs the rest).
REAL_GROUPS = ("ukis landsat7", "ukis landsat5", "38-Cloud patch", "L8 Biome val")
REAL_POOLED = "real labelled: ukis L7 + L5 + 38-Cloud + Biome val (pooled)"


def _log(msg: str) -> None:
    print(f"[accuracy] {msg}", file=sys.stderr, flush=True)


def simulated_cases(suite: Suite) -> list[dict[str, Any]]:
    """The held-out simulated scenes: varied cover, cloud size, brightness and cloud tops."""
    from training.simulator import CloudConfig, simulate

    p = suite.profile
    looks = [
        CloudConfig(cover=0.35, scale_px=900, cirrus=0.15, nodata_wedge=0.08),
        CloudConfig(cover=0.2, scale_px=400, brightness=0.5, cloud_top="low"),
        CloudConfig(cover=0.55, scale_px=1500, cirrus=0.25, cloud_top="high"),
    ]
    cases = []
    for i in range(p.sim_scenes):
        cfg = looks[i % len(looks)]
        seed = p.seed + i
        s = simulate(p.sim_size, p.sim_size, profile="sentinel2-l1c-13", config=cfg, seed=seed)
        cases.append(
            {
                "group": "simulated (held out)",
                "case": f"simulated seed {seed}",
                "labels": "exact",
                "pairs": list(PAIRS),
                "bands": s.reflectance,
                "names": tuple(s.band_names),
                "truth": s.exact,
                "more_truths": [
                    ("simulated (held out), paper-style labels", "paper-style", s.paper)
                ],
                "s2cloudless": True,
                "nodata": 0.0,  # the simulator's reflectance is 0 at No Data
                "scene": {"size": p.sim_size, "seed": seed, "cloud": cfg.to_dict()},
            }
        )
    return cases


def _one(got: Any) -> Any:
    """A reader's scene (readers of time series return a list)."""
    return got[0] if isinstance(got, list) else got


def _cloud_only(mask: np.ndarray | None) -> np.ndarray:
    """Labels with cloud shadow as clear (the cloud scores: shadow is not cloud)."""
    if mask is None:
        raise ValueError("a labelled image without its labels")
    return np.where(mask == SHADOW, CLEAR, mask).astype(np.uint8)


def read_real_cases(data: Path) -> list[dict[str, Any]]:
    """The labelled real images: ukis Landsat 7/5 (reference labels, ``rgbn``), the 38-Cloud
    patch (human labels, ``rgbn``; its reflectance lacks the sun-elevation correction), and
    the s2cloudless scene (*agreement* with s2cloudless's own mask, both pairs)."""
    from training.datasets import read_dataset

    cases: list[dict[str, Any]] = []
    for sensor in ("landsat7", "landsat5"):
        s = _one(read_dataset("ukis", data / "ukis" / f"{sensor}.npz", shadow=True))
        cases.append(
            {
                "case": f"ukis {sensor}",
                "labels": "reference",
                "pairs": ["rgbn"],
                "bands": s.bands,
                "names": s.band_names,
                "truth": _cloud_only(s.mask),
                "truth_shadow": s.mask,
            }
        )
    c = _one(read_dataset("38cloud", data / "38cloud_sample"))
    rows, cols = np.nonzero(c.mask != 255)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    cases.append(
        {
            "case": "38-Cloud patch",
            "labels": "human",
            "pairs": ["rgbn"],
            "bands": np.ascontiguousarray(c.bands[:, r0:r1, c0:c1]),
            "names": c.band_names,
            "truth": c.mask[r0:r1, c0:c1],
        }
    )
    from training.datasets import read_biome_patches

    for b in read_biome_patches(data / "l8biome_patches" / "val", shadow=True):
        cases.append(
            {
                "case": f"Biome {b.name}",
                "group": "L8 Biome val",
                "labels": "human",
                "pairs": ["rgbn"],
                "bands": b.bands,
                "names": b.band_names,
                "truth": _cloud_only(b.mask),
                "truth_shadow": b.mask,
                "nodata": 0.0,  # fill pixels: every band 0
            }
        )
    s2 = _one(read_dataset("s2cloudless", data / "s2cloudless_scene" / "input_arrays.npz"))
    cases.append(
        {
            "case": "s2cloudless scene",
            "labels": "s2cloudless (agreement)",
            "pairs": ["sentinel2-l1c-7", "rgbn"],
            "bands": s2.bands,
            "names": s2.band_names,
            "truth": s2.mask,
        }
    )
    return cases


def real_cases(suite: Suite) -> list[dict[str, Any]]:
    """The labelled real images and the s2cloudless scene (empty without the shared data)."""
    if suite.data_dir is None:
        _log("no shared data: the real images are skipped")
        return []
    cases = []
    for c in read_real_cases(suite.data_dir):
        agreement = c["case"] == "s2cloudless scene"
        cases.append(
            {
                **c,
                "group": c.get("group", c["case"]),
                "names": tuple(c["names"]),
                # s2cloudless against its own mask would only measure itself.
                "s2cloudless": False,
                "agreement": agreement,
            }
        )
    return cases


def _rgb(bands: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    from cascade.bands import band_aliases

    want = ("Red", "Green", "Blue")
    idx = []
    for w in want:
        for i, n in enumerate(names):
            if w.lower() in {a.lower() for a in band_aliases(n)} | {n.lower()}:
                idx.append(i)
                break
    if len(idx) != 3:
        idx = [0, 0, 0]
    return bands[idx]


def _truths(case: dict[str, Any]) -> list[tuple[str, str, np.ndarray]]:
    """``(group, label style, labels)`` a case is scored against: its own, then any others."""
    return [(case["group"], case["labels"], case["truth"]), *case.get("more_truths", [])]


def _row(
    case: dict[str, Any],
    group: str,
    labels: str,
    truth: np.ndarray,
    mask: np.ndarray,
    **fields: Any,
) -> dict[str, Any]:
    return {"group": group, "case": case["case"], "labels": labels, **fields, **scores(mask, truth)}


def _score_routers(
    case: dict[str, Any], pair: str, model: Any, masks: dict[str, np.ndarray]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
    """Rows of the three routers of one model on one case, the coarse rows, the routed cells."""
    from cascade.engine import EngineConfig, mask_array
    from cascade.kernels import pool_labels

    rows, coarse_rows, routed = [], [], None
    for router in ROUTERS:
        cfg = EngineConfig(router=router, input_scale=1.0)
        t0 = time.perf_counter()
        res = mask_array(
            case["bands"], model, band_names=case["names"], nodata=case.get("nodata"), config=cfg
        )
        seconds = time.perf_counter() - t0
        masks[f"{pair}/{router}"] = res.mask
        for group, labels, truth in _truths(case):
            rows.append(
                _row(
                    case,
                    group,
                    labels,
                    truth,
                    res.mask,
                    model=pair,
                    method=router,
                    patches_run=res.report["patches_run"],
                    cells_with_data=res.report["cells_with_data"],
                    seconds=round(seconds, 3),
                )
            )
        if router == "cascade":
            routed = res.routed
            # The cell classes the model is trained for: shadow is unusable ground for a
            # model that marks it, clear for a cloud-only one.
            shadowed = res.report["shadow"] is not None and "truth_shadow" in case
            cell_truth = case["truth_shadow"] if shadowed else _cloud_only(case["truth"])
            cells = pool_labels(cell_truth, res.geometry)
            coarse_rows.append(
                {
                    "group": case["group"],
                    "case": case["case"],
                    "model": pair,
                    "grid": list(cells.shape),
                    "coarse_accuracy": round(coarse_accuracy(res.cell_classes, cells), 4),
                    "s_dn": s_dn(res.cell_classes),
                    "s_dn_labels": s_dn(cells),
                }
            )
        first = rows[-len(_truths(case))]
        _log(
            f"{case['case']:<24} {pair:<16} {router:<8} acc {first['accuracy']} "
            f"f1 {first['f1']} ({res.report['patches_run']} patches, {seconds:.1f} s)"
        )
    return rows, coarse_rows, routed


def _peers(case: dict[str, Any]) -> list[str]:
    """The peers that can run on a case's bands."""
    out = []
    if case.get("s2cloudless") and all(b in case["names"] for b in S2CLOUDLESS_BANDS):
        out.append("s2cloudless")
    if not case.get("agreement"):
        out += [
            f"ukis-csmask {n}b"
            for n, six in ((4, False), (6, True))
            if ukis_bands(case["names"], six) is not None
        ]
    return out


def _score_peer(
    case: dict[str, Any], peer: str, masks: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    """Rows of one peer method on one case (one per label set)."""
    nodata = case["truth"] == 255
    t0 = time.perf_counter()
    if peer == "s2cloudless":
        m = s2cloudless_mask(case["bands"], case["names"], nodata=nodata)
    else:
        m = ukis_mask(case["bands"], case["names"], six=peer.endswith("6b"), nodata=nodata)
    seconds = time.perf_counter() - t0
    masks[peer] = m
    out = [
        _row(
            case,
            group,
            labels,
            truth,
            m,
            model=peer,
            method=peer,
            patches_run=None,
            cells_with_data=None,
            seconds=round(seconds, 3),
            pixels_per_s=round(truth.size / seconds),
        )
        for group, labels, truth in _truths(case)
    ]
    _log(f"{case['case']:<24} {peer} acc {out[0]['accuracy']} ({seconds:.1f} s)")
    return out


def _summaries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (group, model, method); and the real labelled groups pooled together."""
    out = []
    keys = sorted({(r["group"], r["model"], r["method"]) for r in rows}, key=_order(rows))
    for group, model, method in keys:
        sel = [r for r in rows if (r["group"], r["model"], r["method"]) == (group, model, method)]
        out.append({"group": group, "model": model, "method": method, **summarize(sel)})
    real = [r for r in rows if r["group"] in REAL_GROUPS]
    for model, method in dict.fromkeys((r["model"], r["method"]) for r in real):
        sel = [r for r in real if (r["model"], r["method"]) == (model, method)]
        covered = {r["group"] for r in sel}
        if covered == {g for g in REAL_GROUPS if any(x["group"] == g for x in real)}:
            out.append({"group": REAL_POOLED, "model": model, "method": method, **summarize(sel)})
    return out


def run(suite: Suite) -> dict[str, Any]:
    """Score every method on every image; write the pictures. Returns the results payload."""
    from cascade.engine import load_cascade_model
    from cascade.models.pretrained import resolve_model

    models = {name: load_cascade_model(resolve_model(name)) for name in PAIRS}
    cases = simulated_cases(suite) + real_cases(suite)
    for model in models.values():  # kernels compiled, both models traced for these shapes
        warm_up(model, *{c["truth"].shape for c in cases})
    rows: list[dict[str, Any]] = []
    coarse_rows: list[dict[str, Any]] = []
    shade_rows: list[dict[str, Any]] = []
    panels_made: set[str] = set()
    panel_files: list[str] = []
    for case in cases:
        masks: dict[str, np.ndarray] = {}
        routed = None
        for pair in case["pairs"]:
            got, coarse, pair_routed = _score_routers(case, pair, models[pair], masks)
            rows += got
            coarse_rows += coarse
            routed = pair_routed if routed is None else routed
        for peer in _peers(case):
            rows += _score_peer(case, peer, masks)
        if "truth_shadow" in case:
            shade_rows += shadow_rows(case, masks, set(case["pairs"]))
        if case["group"] not in panels_made:
            panels_made.add(case["group"])
            panel_files.append(_panels(suite, case, masks, routed))
    summaries = _summaries(rows)
    return {
        "profile": suite.profile.to_dict(),
        "cases": [
            {k: c[k] for k in ("group", "case", "labels", "pairs") if k in c}
            | {"shape": list(c["truth"].shape), "scene": c.get("scene")}
            for c in cases
        ],
        "rows": rows,
        "coarse": coarse_rows,
        "summaries": summaries,
        "shadow_rows": shade_rows,
        "shadow_summaries": shadow_summaries(shade_rows),
        "figures": {"confusion": _confusion_figure(suite, summaries), "panels": panel_files},
    }


def _order(rows: list[dict[str, Any]]) -> Any:
    groups = list(dict.fromkeys(r["group"] for r in rows))
    methods = [*ROUTERS, *PEERS]
    models = [*PAIRS, *PEERS]

    def key(k: tuple[str, str, str]) -> tuple[int, int, int]:
        return groups.index(k[0]), models.index(k[1]), methods.index(k[2])

    return key


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def _panels(
    suite: Suite, case: dict[str, Any], masks: dict[str, np.ndarray], routed: np.ndarray | None
) -> str:
    """Fig. 6-style panels of one image (the first pair's masks); returns the docs link."""
    from cascade.io.quicklook import decimation

    truth = case.get("truth_shadow", case["truth"])  # shadow drawn where it is labelled
    step = decimation(truth.shape[0], truth.shape[1], max_side=700)
    sl = (slice(None, None, step), slice(None, None, step))
    first = case["pairs"][0]
    truth_label = "s2cloudless (reference)" if case.get("agreement") else "truth"
    items = [(truth_label, truth[sl])]
    for label, key in (
        ("patch baseline (all)", f"{first}/all"),
        ("cascade", f"{first}/cascade"),
        ("coarse only (none)", f"{first}/none"),
        ("s2cloudless", "s2cloudless"),
        ("ukis-csmask 4b", "ukis-csmask 4b"),
    ):
        if key in masks:
            items.append((label, masks[key][sl]))
    rgb = _rgb(case["bands"], case["names"])[:, sl[0], sl[1]]
    name = f"panels-{_slug(case['group'])}.png"
    plots_masks.mask_panels(
        suite.images / name,
        rgb,
        items,
        routed=routed,
        outline=("cascade",),
        core=248.0 / step,
        title=f"{case['case']} ({case['labels']} labels), model {first}",
    )
    return suite.image_link(name)


def _confusion_figure(suite: Suite, summaries: list[dict[str, Any]]) -> str:
    items = []
    for s in summaries:
        if s["method"] in ("cascade", "s2cloudless", "ukis-csmask 4b") or (
            s["method"] == "all" and s["group"].startswith("simulated")
        ):
            c = s["pooled"]
            title = f"{s['group']}: {s['model']} {s['method']}"
            for peer in PEERS:
                title = title.replace(f"{peer} {peer}", peer)
            items.append((title, {k: c[k] for k in ("tp", "fp", "fn", "tn")}))
    name = "confusion.png"
    plots.confusion_matrices(suite.images / name, items, columns=4)
    return suite.image_link(name)
