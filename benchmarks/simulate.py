"""Simulator benchmark: a full Sentinel-2-sized scene written to disk in bounded memory.

Run ``python -m benchmarks.simulate`` (or ``make bench-simulate``). Writes a 10980 x 10980 x 7
scene (profile sentinel2-l1c-7, over the real Virginia background) with both label rasters,
strip by strip, and records wall time and the process's peak RSS in
``benchmarks/results/simulate.json``. Target (issue 5): peak RSS under 2 GB.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from benchmarks._common import peak_rss_mib, write_results
from cascade.simulate import CloudConfig, write_scene

RSS_TARGET_MIB = 2048


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulate", description=__doc__)
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--profile", default="sentinel2-l1c-7")
    parser.add_argument("--strip-rows", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "work")
    parser.add_argument("--name", default="simulate")
    args = parser.parse_args(argv)
    config = CloudConfig(cover=0.35, scale_px=1500, cirrus=0.2, nodata_wedge=0.1)
    t0 = time.perf_counter()
    info = write_scene(
        args.work,
        f"sim-{args.size}",
        args.size,
        args.size,
        profile=args.profile,
        config=config,
        seed=args.seed,
        strip_rows=args.strip_rows,
        overwrite=True,
    )
    wall = time.perf_counter() - t0
    sizes = {k: Path(p).stat().st_size for k, p in info["files"].items()}
    rss = peak_rss_mib()
    payload = {
        "config": {
            "size": args.size,
            "profile": args.profile,
            "strip_rows": args.strip_rows,
            "seed": args.seed,
            "cloud_config": config.to_dict(),
        },
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(rss, 1),
        "meets_rss_target": rss < RSS_TARGET_MIB,
        "exact_cloud_fraction": info["exact_cloud_fraction"],
        "nodata_fraction": info["nodata_fraction"],
        "file_bytes": sizes,
    }
    argv_used = argv if argv is not None else sys.argv[1:]
    path = write_results(
        args.name, payload, f"python -m benchmarks.simulate {shlex.join(argv_used)}".strip()
    )
    print(f"wrote {path}: {wall:.0f} s, peak RSS {rss:.0f} MiB")
    for p in info["files"].values():
        Path(p).unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
