"""Speed suite: the cascade against the patch baseline, coarse-only and s2cloudless.

1. **Main scene**: a simulated Sentinel-2 scene of the profile's size (full: 10980 x 10980,
   13 bands, DN GeoTIFF on disk, kept in ``benchmarks/work/``). One process loads the shipped
   ``sentinel2-l1c-7`` pair once, warms it up (Numba kernels compiled, both models traced),
   then masks the scene from disk to disk with ``cascade``, ``all`` and ``none`` in turn,
   ``repeats`` rounds (the order rotates each round); medians are reported, with the
   per-stage times of the median run. Peak RSS is read after the first run (``cascade``,
   on the largest scene the process has seen).
2. **Cloud structure**: in-memory scenes of one size, clear / overcast / scattered /
   boundary-heavy; speed-up ``t_all / t_cascade`` against the ideal bound ``1 / (f + c)``,
   ``f`` the routed share of the data cells and ``c`` the coarse stage's time (read, pool,
   coarse model, routing) over ``t_all``. Our ``all`` pays the coarse stage too, so against
   it the exact ideal is ``1 / (c + f (1 - c))`` (``ideal_vs_all``), a little above the bound.
3. **Time vs size**: the main scene plus smaller scenes written the same way.
4. **s2cloudless** for reference on the same files: its ten bands read strip by strip and
   averaged over ``factor x factor`` pixels (16: 160 m) with numpy, then classified by its
   LightGBM model; its 10 m per-pixel rate is in the accuracy suite's results.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import plots
from benchmarks._common import bytes_read, peak_rss_mib
from benchmarks.suite import (
    ROUTERS,
    S2CLOUDLESS_BANDS,
    STRUCTURE_SEED_OFFSET,
    Suite,
    s2cloudless_mask,
    warm_up,
)

PAIR = "sentinel2-l1c-7"

STRUCTURES = {
    # name: CloudConfig keyword arguments
    "clear": {"cover": 0.0, "haze": 0.0, "cirrus": 0.0},
    "overcast": {"cover": 0.97, "scale_px": 3000.0, "thick": 0.9},
    "scattered": {"cover": 0.15, "scale_px": 700.0},
    "boundary-heavy": {"cover": 0.5, "scale_px": 150.0, "octaves": 8},
}


def _log(msg: str) -> None:
    print(f"[speed] {msg}", file=sys.stderr, flush=True)


def scene_file(suite: Suite, size: int, cover: float = 0.35, tag: str = "") -> Path:
    """A 13-band simulated scene of ``size`` x ``size`` with cloud ``cover`` on disk (made
    once, then reused; ``tag`` names a variant)."""
    from training.simulator import CloudConfig, write_scene

    name = f"speed-{size}-{suite.profile.seed}{tag}"
    path = suite.work / f"{name}.tif"
    if not path.exists():
        _log(f"simulating {path} ...")
        t0 = time.perf_counter()
        write_scene(
            suite.work,
            name,
            size,
            size,
            profile="sentinel2-l1c-13",
            config=CloudConfig(cover=cover, scale_px=1500, cirrus=0.2, nodata_wedge=0.1),
            seed=suite.profile.seed,
            overwrite=True,
        )
        _log(f"  {time.perf_counter() - t0:.0f} s")
    return path


def cog_file(path: Path) -> Path:
    """The scene as a Cloud-Optimized GeoTIFF with average overviews (made once)."""
    from cascade.io.raster import copy_as_cog

    cog = path.with_name(f"{path.stem}-cog.tif")
    if not cog.exists():
        _log(f"writing {cog} ...")
        t0 = time.perf_counter()
        copy_as_cog(path, cog)
        _log(f"  {time.perf_counter() - t0:.0f} s")
    return cog


def _block_mean(dn: np.ndarray, factor: int, nodata: int = 0) -> np.ndarray:
    """``(C, h, W)`` DN to ``(C, ceil(h / f), ceil(W / f))`` means over valid pixels (0 if none)."""
    c, h, w = dn.shape
    hp, wp = -(-h // factor) * factor, -(-w // factor) * factor
    x = np.zeros((c, hp, wp), np.float32)
    x[:, :h, :w] = dn
    valid = np.zeros((hp, wp), np.float32)
    valid[:h, :w] = dn[0] != nodata
    shape = (hp // factor, factor, wp // factor, factor)
    sums = (x * valid).reshape(c, *shape).sum(axis=(2, 4))
    counts = valid.reshape(shape).sum(axis=(1, 3))
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def s2cloudless_on_file(path: Path, factor: int) -> dict[str, Any]:
    """Read s2cloudless's bands strip by strip, average them over ``factor x factor`` pixels
    (No Data left out) and classify the result."""
    from cascade.io.raster import open_source

    t0 = time.perf_counter()
    with open_source(path) as src:
        names = tuple(src.band_names)
        idx = [names.index(b) for b in S2CLOUDLESS_BANDS]
        rows = factor * max(1, 512 // factor)
        strips = []
        for r0 in range(0, src.height, rows):
            strips.append(_block_mean(src.read(idx, r0, min(src.height, r0 + rows)), factor))
    pooled = np.concatenate(strips, axis=1)
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    mask = s2cloudless_mask(pooled * np.float32(1e-4), S2CLOUDLESS_BANDS, nodata=pooled[0] == 0)
    t_predict = time.perf_counter() - t1
    return {
        "read_s": t_read,
        "predict_s": t_predict,
        "total_s": t_read + t_predict,
        "shape": list(mask.shape),
        "cloud_fraction": float(np.mean(mask[mask != 255] == 1)) if (mask != 255).any() else None,
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (lower median for even counts) plus all walls."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    med = dict(ordered[(len(ordered) - 1) // 2])
    walls = [r["wall_s"] for r in runs]
    med["walls_s"] = [round(w, 3) for w in walls]
    med["wall_s"] = round(statistics.median(walls), 3)
    return med


def _time_scene(
    suite: Suite,
    model: Any,
    path: Path,
    methods: tuple[str, ...],
    repeats: int,
    kept: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], float | None]:
    """Median runs of each method on one file; peak RSS after the first cascade run.
    ``kept`` gets the last cascade run's ``mask`` and ``cell_classes``."""
    from cascade.engine import EngineConfig, mask_scene

    out = suite.work / f"{path.stem}-out.tif"
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    # Untimed: the file into the page cache, the coarse model traced for its shape.
    mask_scene(path, out, model, config=EngineConfig(router="none"), overwrite=True)
    rss = None
    for rep in range(repeats):
        order = methods[rep % len(methods) :] + methods[: rep % len(methods)]
        for m in order:
            read0 = bytes_read()
            t0 = time.perf_counter()
            if m == "s2cloudless":
                r = s2cloudless_on_file(path, suite.profile.s2cloudless_factor)
                runs[m].append({"wall_s": time.perf_counter() - t0, "timings_s": r})
            else:
                res = mask_scene(path, out, model, config=EngineConfig(router=m), overwrite=True)
                wall = time.perf_counter() - t0
                runs[m].append(
                    {
                        "wall_s": wall,
                        "timings_s": res.report["timings_s"],
                        "patches_run": res.report["patches_run"],
                        "cells_with_data": res.report["cells_with_data"],
                        "cells_per_class": res.report["cells_per_class"],
                        "coarse_input": res.report["coarse_input"],
                        "pixels_read": res.report["pixels_read"],
                    }
                )
            read1 = bytes_read()
            if read0 is not None and read1 is not None:
                runs[m][-1]["bytes_read"] = read1 - read0
                if rss is None and m == "cascade":
                    rss = round(peak_rss_mib(), 1)
            if kept is not None and m == "cascade":
                kept |= {"mask": res.mask, "cell_classes": res.cell_classes}
            _log(f"{path.name} {m:<12} {runs[m][-1]['wall_s']:.2f} s")
    out.unlink(missing_ok=True)
    return {m: _median_run(v) for m, v in runs.items()}, rss


def _cog_runs(
    suite: Suite,
    model: Any,
    tiled: Path,
    methods: tuple[str, ...],
    tiled_runs: dict[str, dict[str, Any]],
    tiled_kept: dict[str, Any],
) -> dict[str, Any]:
    """The main scene again from a COG with overviews (the coarse stage reads the 1/4 one),
    beside the plain tiled file (exact pooling): wall, stages, pixels decoded, bytes read,
    and how far the cascade's cell classes and mask agree with the tiled file's."""
    cog = cog_file(tiled)
    kept: dict[str, Any] = {}
    runs, _ = _time_scene(suite, model, cog, methods, suite.profile.repeats, kept)
    cas = runs["cascade"]
    return {
        **_agreement(kept, tiled_kept),
        "file": cog.name,
        "file_mib": round(cog.stat().st_size / 2**20, 1),
        "tiled_file_mib": round(tiled.stat().st_size / 2**20, 1),
        "runs": runs,
        "coarse_stage_s": round(_coarse_stage(cas["timings_s"]), 3),
        "tiled_coarse_stage_s": round(_coarse_stage(tiled_runs["cascade"]["timings_s"]), 3),
        "speedup_vs_tiled": round(tiled_runs["cascade"]["wall_s"] / cas["wall_s"], 3),
        "routed_fraction": round(cas["patches_run"] / max(1, runs["all"]["patches_run"]), 4),
    }


def _agreement(kept: dict[str, Any], tiled_kept: dict[str, Any]) -> dict[str, Any]:
    """How far the cascade's cell classes and mask from the COG (overview) agree with those
    from the tiled file (exact pooling), and the valid pixels the overview path lost."""
    same_cells = kept["cell_classes"] == tiled_kept["cell_classes"]
    return {
        "cell_classes_agree": round(float(np.mean(same_cells)), 5),
        "cells_differ": int(np.sum(~same_cells)),
        "mask_agree": round(float(np.mean(kept["mask"] == tiled_kept["mask"])), 6),
        "valid_pixels_lost": int(np.sum((kept["mask"] == 255) & (tiled_kept["mask"] != 255))),
    }


# The sparse scene's cloud cover: about a fifth of its cells routed (the "about 20 %").
SPARSE_COVER = 0.08


def _sparse_cog(suite: Suite, model: Any) -> dict[str, Any]:
    """A scene of the main one's size with little cloud, as a COG with overviews: the
    cascade's wall and stages where few cells are routed (only the cascade runs), and its
    agreement with one cascade run from the tiled file."""
    size = suite.profile.speed_size
    tiled = scene_file(suite, size, cover=SPARSE_COVER, tag="-sparse")
    cog = cog_file(tiled)
    tiled_kept: dict[str, Any] = {}
    _time_scene(suite, model, tiled, ("cascade",), 1, tiled_kept)
    kept: dict[str, Any] = {}
    runs, _ = _time_scene(suite, model, cog, ("cascade",), suite.profile.repeats, kept)
    cas = runs["cascade"]
    return {
        **_agreement(kept, tiled_kept),
        "file": cog.name,
        "cover": SPARSE_COVER,
        "runs": runs,
        "wall_s": cas["wall_s"],
        "coarse_stage_s": round(_coarse_stage(cas["timings_s"]), 3),
        "routed_fraction": round(cas["patches_run"] / max(1, cas["cells_with_data"]), 4),
    }


def _coarse_stage(timings: dict[str, float]) -> float:
    return sum(timings.get(k, 0.0) for k in ("read_and_pool", "coarse", "route"))


def _structures(suite: Suite, model: Any) -> list[dict[str, Any]]:
    from cascade.engine import EngineConfig, mask_array
    from training.simulator import CloudConfig, simulate

    p = suite.profile
    rows = []
    for i, (name, kw) in enumerate(STRUCTURES.items()):
        cfg = CloudConfig(**kw)  # type: ignore[arg-type]
        s = simulate(
            p.structure_size, p.structure_size, config=cfg, seed=p.seed + STRUCTURE_SEED_OFFSET + i
        )
        runs: dict[str, list[dict[str, Any]]] = {"cascade": [], "all": []}
        for rep in range(p.repeats):
            for router in ("cascade", "all") if rep % 2 == 0 else ("all", "cascade"):
                t0 = time.perf_counter()
                res = mask_array(
                    s.reflectance,
                    model,
                    band_names=s.band_names,
                    config=EngineConfig(router=router, input_scale=1.0),
                )
                runs[router].append(
                    {
                        "wall_s": time.perf_counter() - t0,
                        "timings_s": res.report["timings_s"],
                        "patches_run": res.report["patches_run"],
                        "cells_with_data": res.report["cells_with_data"],
                        "cells_per_class": res.report["cells_per_class"],
                    }
                )
        cas, all_ = _median_run(runs["cascade"]), _median_run(runs["all"])
        f = cas["patches_run"] / max(1, all_["patches_run"])
        c = _coarse_stage(cas["timings_s"]) / all_["wall_s"]
        rows.append(
            {
                "structure": name,
                "cloud": cfg.to_dict(),
                "size": p.structure_size,
                "cloud_fraction_exact": round(float(np.mean(s.exact[s.exact != 255] == 1)), 4),
                "cascade_s": cas["wall_s"],
                "all_s": all_["wall_s"],
                "speedup": round(all_["wall_s"] / cas["wall_s"], 3),
                "routed_fraction": round(f, 4),
                "coarse_fraction": round(c, 4),
                "ideal_bound": round(1.0 / (f + c), 3),
                "ideal_vs_all": round(1.0 / (c + f * (1.0 - c)), 3),
                "cells_per_class": cas["cells_per_class"],
                "runs": {"cascade": cas, "all": all_},
            }
        )
        _log(f"structure {name}: speed-up {rows[-1]['speedup']} (f {f:.3f}, c {c:.3f})")
    return rows


def run(suite: Suite) -> dict[str, Any]:
    from cascade.engine import load_cascade_model
    from cascade.models.pretrained import resolve_model

    p = suite.profile
    suite.work.mkdir(parents=True, exist_ok=True)
    main_path = scene_file(suite, p.speed_size)
    others = {size: scene_file(suite, size) for size in p.sizes if size != p.speed_size}

    t0 = time.perf_counter()
    model = load_cascade_model(resolve_model(PAIR))
    load_s = time.perf_counter() - t0
    warm_up(model, *[(s, s) for s in {p.speed_size, *p.sizes, p.structure_size}])

    methods = (*ROUTERS, "s2cloudless")
    kept: dict[str, Any] = {}
    main_runs, rss = _time_scene(suite, model, main_path, methods, p.repeats, kept)
    cas, all_ = main_runs["cascade"], main_runs["all"]
    f = cas["patches_run"] / max(1, all_["patches_run"])
    c = _coarse_stage(cas["timings_s"]) / all_["wall_s"]
    main = {
        "size": p.speed_size,
        "file": main_path.name,
        "runs": main_runs,
        "peak_rss_mib_cascade": rss,
        "speedup": round(all_["wall_s"] / cas["wall_s"], 3),
        "routed_fraction": round(f, 4),
        "coarse_fraction": round(c, 4),
        "ideal_bound": round(1.0 / (f + c), 3),
        "ideal_vs_all": round(1.0 / (c + f * (1.0 - c)), 3),
        "coarse_stage_s": round(_coarse_stage(cas["timings_s"]), 3),
    }
    _log(f"main scene: speed-up {main['speedup']} (f {f:.3f}, c {c:.3f})")

    main["cog"] = _cog_runs(suite, model, main_path, methods, main_runs, kept)
    del kept
    main["cog_sparse"] = _sparse_cog(suite, model)
    sizes: list[dict[str, Any]] = [{"size": p.speed_size, "runs": main_runs}]
    for size, path in sorted(others.items()):
        runs, _ = _time_scene(suite, model, path, methods, p.repeats)
        sizes.append({"size": size, "runs": runs})
    sizes.sort(key=lambda r: r["size"])
    size_rows = [
        {
            "method": m,
            "megapixels": round(r["size"] ** 2 / 1e6, 3),
            "seconds": r["runs"][m]["wall_s"],
        }
        for r in sizes
        for m in methods
    ]
    structures = _structures(suite, model)

    plots.speedup_vs_structure(suite.images / "speedup-structure.png", structures)
    plots.time_vs_size(suite.images / "time-vs-size.png", size_rows)
    return {
        "profile": p.to_dict(),
        "model": model.describe(),
        "model_load_s": round(load_s, 2),
        "s2cloudless_resolution_m": 10 * p.s2cloudless_factor,
        "main": main,
        "sizes": sizes,
        "size_rows": size_rows,
        "structures": structures,
        "figures": {
            "speedup_structure": suite.image_link("speedup-structure.png"),
            "time_vs_size": suite.image_link("time-vs-size.png"),
        },
    }
