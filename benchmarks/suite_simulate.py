"""Simulate suite: one simulated scene written to disk strip by strip, time and peak memory.

``python -m benchmarks run full --only simulate`` (``make bench-simulate``): a
``simulate_size`` x ``simulate_size`` x 7 scene (10980 in the ``full`` profile) with cirrus and
a No Data wedge, through :func:`training.simulator.write_scene`. Target: peak RSS under 2 GB
whatever the scene size (the simulator holds a few strips, never the scene).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks._common import peak_rss_mib
from benchmarks.suite import Suite

RSS_TARGET_MIB = 2048
PROFILE = "sentinel2-l1c-7"
STRIP_ROWS = 512


def run(suite: Suite) -> dict[str, Any]:
    """The suite's record (see the module doc)."""
    from training.simulator import CloudConfig, write_scene

    p = suite.profile
    config = CloudConfig(cover=0.35, scale_px=1500, cirrus=0.2, nodata_wedge=0.1)
    work = suite.work / "simulate"
    t0 = time.perf_counter()
    info = write_scene(
        work,
        f"sim-{p.simulate_size}",
        p.simulate_size,
        p.simulate_size,
        profile=PROFILE,
        config=config,
        seed=p.seed,
        strip_rows=STRIP_ROWS,
        overwrite=True,
    )
    wall = time.perf_counter() - t0
    sizes = {k: Path(f).stat().st_size for k, f in info["files"].items()}
    for f in info["files"].values():
        Path(f).unlink()
    rss = peak_rss_mib()
    return {
        "config": {
            "size": p.simulate_size,
            "profile": PROFILE,
            "strip_rows": STRIP_ROWS,
            "seed": p.seed,
            "cloud_config": config.to_dict(),
        },
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(rss, 1),
        "meets_rss_target": rss < RSS_TARGET_MIB,
        "exact_cloud_fraction": info["exact_cloud_fraction"],
        "nodata_fraction": info["nodata_fraction"],
        "file_bytes": sizes,
    }
