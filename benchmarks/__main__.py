"""The benchmark suites in one command.

    python -m benchmarks run [quick|full] [--only SUITE,...] [--data-dir DIR]
    python -m benchmarks report [quick|full]
    python -m benchmarks suite NAME --profile quick|full     (one suite in this process)

Suites: ``accuracy``, ``speed`` and ``ablation`` (run by default: the cascade against the
patch baseline, coarse-only and s2cloudless, and the loss ablation), and ``encoders`` (the
paper's Table III: the cascade with several coarse encoders against the patch baseline and
coarse-only), ``kernels`` (Numba kernels against numpy references), ``engine`` (cascade vs
patch baseline with random-weight models, per-router memory), ``batch`` (scenes per hour on
Dask), ``simulate`` (the simulator's speed and memory) and ``levers`` (the fine model's
training-data levers on the L8 Biome validation patches), run with ``--only``.

``run`` runs each suite of the profile in its own Python process (so peak memory and
TensorFlow's state are per suite), writes ``benchmarks/results/<profile>/<suite>.json`` and
``run.json`` (durations), then regenerates the report: ``docs/benchmarks.md`` for ``full``,
``docs/benchmarks-quick.md`` for ``quick``, with pictures in ``docs/img/benchmarks-<profile>/``.
``quick`` takes a few minutes on two cores; ``full`` about an hour (see the report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import time
from typing import Any

SUITES = (
    "accuracy",
    "speed",
    "ablation",
    "encoders",
    "kernels",
    "engine",
    "batch",
    "simulate",
    "levers",
)
DEFAULT_SUITES = ("accuracy", "speed", "ablation")


def _suite_module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"benchmarks.suite_{name}")


def run_suite(name: str, profile: str, data_dir: str | None, command: str) -> None:
    """Run one suite here and write its results file."""
    from benchmarks._common import write_results
    from benchmarks.suite import Suite

    suite = Suite.create(profile, data_dir)
    t0 = time.perf_counter()
    payload = _suite_module(name).run(suite)
    payload["suite_seconds"] = round(time.perf_counter() - t0, 1)
    path = write_results(name, payload, command, folder=suite.results)
    print(f"wrote {path}", file=sys.stderr)


def run(profile: str, only: list[str], data_dir: str | None, command: str) -> int:
    from benchmarks._common import write_results
    from benchmarks.report import write_report
    from benchmarks.suite import Suite

    suite = Suite.create(profile, data_dir)
    # Suites run earlier and not now keep their record: the report says when each one ran.
    previous = suite.results / "run.json"
    durations: dict[str, Any] = {}
    if previous.exists():
        record = json.loads(previous.read_text())
        durations = {
            k: {"command": record.get("command"), **v}
            for k, v in record.get("suites", {}).items()
            if k not in only and (suite.results / f"{k}.json").exists()
        }
    failed = []
    for name in only:
        args = [sys.executable, "-m", "benchmarks", "suite", name, "--profile", profile]
        if data_dir:
            args += ["--data-dir", data_dir]
        args += ["--command", command]
        print(f"== {name} ({profile})", file=sys.stderr, flush=True)
        start = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        t0 = time.perf_counter()
        rc = subprocess.call(args)
        durations[name] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "exit_code": rc,
            "started_utc": start,
            "command": command,
        }
        if rc:
            failed.append(name)
    ordered = {k: durations[k] for k in SUITES if k in durations}
    write_results(
        "run",
        {
            "profile": profile,
            "suites": ordered,
            "total_seconds": round(sum(d["seconds"] for d in ordered.values()), 1),
        },
        command,
        folder=suite.results,
    )
    path = write_report(suite)
    print(f"wrote {path}", file=sys.stderr)
    if failed:
        print(f"failed suites: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="run the suites of a profile and write the report")
    p_run.add_argument("profile", nargs="?", default="quick", choices=("quick", "full"))
    p_run.add_argument(
        "--only", default=",".join(DEFAULT_SUITES), help=f"comma-separated suites of {SUITES}"
    )
    p_run.add_argument("--data-dir", default=None, help="the shared data (../shared/data)")
    p_rep = sub.add_parser("report", help="regenerate the Markdown report from results files")
    p_rep.add_argument("profile", nargs="?", default="full", choices=("quick", "full"))
    p_one = sub.add_parser("suite", help="run one suite in this process")
    p_one.add_argument("name", choices=SUITES)
    p_one.add_argument("--profile", default="quick", choices=("quick", "full"))
    p_one.add_argument("--data-dir", default=None)
    p_one.add_argument("--command", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    command = "python -m benchmarks " + shlex.join(argv)
    if args.cmd == "run":
        only = [s for s in args.only.split(",") if s]
        unknown = sorted(set(only) - set(SUITES))
        if unknown:
            parser.error(f"unknown suite(s) {unknown}; choose from {list(SUITES)}")
        return run(args.profile, only, args.data_dir, command)
    if args.cmd == "report":
        from benchmarks.report import write_report
        from benchmarks.suite import Suite

        print(f"wrote {write_report(Suite.create(args.profile))}", file=sys.stderr)
        return 0
    run_suite(args.name, args.profile, args.data_dir, args.command or command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
