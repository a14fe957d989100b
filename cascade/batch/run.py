"""Batch masking: many scenes, one command, on a Dask distributed cluster.

``run_batch`` masks every scene of a batch with :func:`cascade.engine.mask_scene` and returns a
:class:`BatchReport`; ``cascade batch`` is its command line. What happens:

1. **Plan** (on the client, before any work): the inputs (files, globs, folders of band files,
   ``@list.txt`` files) are expanded to scenes, each scene gets ``<out-dir>/<name>_mask.tif``
   and its report ``<name>_mask.json`` (with ``valid``, its usable-ground mask
   ``<name>_valid.tif`` too), and two scenes with one output name are an error.
   The model pair folder is checked (sidecars, weights' SHA-256) once.
2. **Run**: every scene is one Dask task. By default the cluster is an in-process
   ``LocalCluster`` sized to the machine (:func:`local_cluster`); ``scheduler=`` sends the
   tasks to an existing cluster instead. What travels is the scene's paths, the model
   folder's path and its sidecars' SHA-256, and the engine configuration: workers read the
   scenes and the model from storage they can see, and each worker process loads the model
   pair once and reuses it (a per-process cache keyed by folder, sidecar SHA-256 and batch
   size).
3. **Resume**: a task first looks at its output. One that exists and whose GeoTIFF tags
   (``inputs``, ``model``, ``config``, from :mod:`cascade.engine.provenance`) match this
   scene, model and configuration (the resampling of band files included) is *skipped*; one
   that differs is left alone and reported ``exists-differs`` unless ``overwrite``. Nothing
   that exists is replaced without it. A usable-ground mask is checked alike; one that is
   missing beside a matching mask is made from that mask, without running the models.
4. **Failures**: a scene that raises is reported ``failed`` with its error, and the batch
   goes on. A worker process that dies mid-scene (killed, out of memory) leaves no partial
   output, because the engine writes every file to a temporary name and renames it when
   complete; the scene is submitted again, at most ``retries`` more times. Temporary files
   that a dead worker left behind are removed.
5. **Report**: ``<out-dir>/batch-report.json`` (written atomically) holds this run's every
   scene's status, time, patches run, worker, attempts and error, and the totals; earlier
   runs into the same report are kept under ``history`` (oldest first), and ``latest`` maps
   every scene any run has seen to its latest status, so that a rerun of one scene keeps the
   record of the others. A report that cannot be read is moved aside, never overwritten.

Before any work, every output (masks, their reports, the batch report) is checked against
every input and against the other outputs: one that would overwrite an input or another
output is refused (:func:`cascade.io.files.check_distinct`), with or without ``overwrite``.

Planning is :mod:`cascade.batch.plan`, one scene's task :mod:`cascade.batch.task`, the cluster
(the only module that imports Dask) :mod:`cascade.batch.cluster`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cascade import __version__
from cascade.batch.cluster import as_completed, connect, is_killed_worker
from cascade.batch.plan import SceneJob, plan_scenes
from cascade.batch.task import (
    STATUSES,
    ModelRef,
    SceneResult,
    SceneStatus,
    mask_task,
    remove_temporaries,
    resolve_model_dir,
)
from cascade.engine import EngineConfig
from cascade.errors import BatchError, CascadeError
from cascade.io.files import atomic_output

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

__all__ = ["REPORT_NAME", "BatchReport", "run_batch"]

log = logging.getLogger("cascade.batch")

REPORT_NAME = "batch-report.json"


@dataclass
class BatchReport:
    """The outcome of a batch: one :class:`SceneResult` per scene, in input order.

    ``wall_s``: from the first submission to the last result; ``startup_s``: starting or
    connecting to the cluster; ``scenes_per_hour``: scenes masked (status ``ok``) per hour of
    ``wall_s``.
    """

    scenes: list[SceneResult]
    out_dir: str
    wall_s: float
    startup_s: float
    model: dict[str, Any]
    config: dict[str, Any]
    cluster: dict[str, Any]
    retries: int
    overwrite: bool
    started_utc: str
    cloud_cascade: str = __version__
    path: Path | None = field(default=None, compare=False)

    def count(self, status: SceneStatus) -> int:
        return sum(1 for s in self.scenes if s.status == status)

    @property
    def ok(self) -> bool:
        """True when every scene was masked or skipped."""
        return all(s.status in ("ok", "skipped") for s in self.scenes)

    @property
    def totals(self) -> dict[str, Any]:
        # Scenes the models ran on: a usable mask made from a mask on disk is not one.
        done = sum(1 for s in self.scenes if s.status == "ok" and s.patches_run is not None)
        return {
            "scenes": len(self.scenes),
            **{status.replace("-", "_"): self.count(status) for status in STATUSES},
            "wall_s": round(self.wall_s, 3),
            "startup_s": round(self.startup_s, 3),
            "scenes_per_hour": round(done / self.wall_s * 3600, 2) if self.wall_s > 0 else None,
            "patches_run": sum(s.patches_run or 0 for s in self.scenes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "cloud_cascade": self.cloud_cascade,
            "started_utc": self.started_utc,
            "out_dir": self.out_dir,
            "model": self.model,
            "config": self.config,
            "cluster": self.cluster,
            "retries": self.retries,
            "overwrite": self.overwrite,
            "totals": self.totals,
            "scenes": [s.to_dict() for s in self.scenes],
        }

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON, atomically, keeping earlier runs' reports in it.

        An existing report at ``path`` becomes the last entry of ``history`` (its own
        history before it); ``latest`` maps each scene of any run to its latest result.
        """
        history = _earlier_runs(Path(path))
        record = self.to_dict()
        latest: dict[str, Any] = {}
        for run in [*history, record]:
            for s in run.get("scenes", []):
                if isinstance(s, dict) and "name" in s:
                    latest[str(s["name"])] = {
                        "status": s.get("status"),
                        "run_started_utc": run.get("started_utc"),
                        "output": s.get("output"),
                        "error": s.get("error"),
                    }
        record |= {"latest": latest, "history": history}
        with atomic_output(path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n")
        self.path = Path(path)
        return self.path


def _earlier_runs(path: Path) -> list[dict[str, Any]]:
    """The runs an existing batch report records, oldest first (none when there is none).

    A file that is not a batch report is moved aside (``NAME.unreadable-STAMP.json``) with
    a warning rather than overwritten.
    """
    if not path.exists():
        return []
    try:
        earlier = json.loads(path.read_text())
        if not isinstance(earlier, dict) or not isinstance(earlier.get("scenes"), list):
            raise ValueError("not a batch report")
    except (OSError, ValueError) as exc:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        aside = path.with_name(f"{path.stem}.unreadable-{stamp}{path.suffix}")
        os.replace(path, aside)
        log.warning("%s could not be read as a batch report (%s); moved to %s", path, exc, aside)
        return []
    history = earlier.pop("history", [])
    earlier.pop("latest", None)
    return [*(h for h in history if isinstance(h, dict)), earlier]


def _killed_message(exc: BaseException | None, attempts: int) -> str:
    worker = getattr(getattr(exc, "last_worker", None), "address", None)
    return (
        f"the worker running this scene died {attempts} time(s)"
        + (f" (last {worker})" if worker else "")
        + "; out of memory or killed? see the worker logs"
    )


def _output_folder(out_dir: str | Path) -> Path:
    out = Path(os.path.abspath(out_dir))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    if not os.access(out, os.W_OK):
        raise BatchError(f"cannot write to the output folder {out}; choose another --out-dir")
    return out


@dataclass
class _Submitter:
    """Submits the scenes of a batch, collects their results, resubmits lost ones."""

    client: Client
    args: tuple[Any, ...]  # (ref, config, overwrite, resampling) for every task
    retries: int
    batch_id: str
    topic: str | None
    pending: dict[str, tuple[Future, SceneJob, int]] = field(default_factory=dict)
    completed: Any = field(default_factory=as_completed)

    def submit(self, job: SceneJob, attempt: int) -> None:
        future = self.client.submit(
            mask_task,
            job,
            *self.args,
            attempt,
            self.topic,
            key=f"cascade-mask-{job.name}-{self.batch_id}-{attempt}",
            pure=False,
        )
        self.pending[str(future.key)] = (future, job, attempt)
        self.completed.add(future)

    def results(self) -> Iterator[tuple[SceneJob, SceneResult]]:
        """Each scene's final result as it comes; cancels what is left when interrupted."""
        try:
            for future in self.completed:
                _, job, attempt = self.pending.pop(str(future.key))
                result = _collect(future, job, attempt)
                if result is None:  # the worker died under it
                    died = future.exception()
                    future.release()
                    if attempt <= self.retries:
                        log.warning(
                            "%s: %s; submitting it again (attempt %d of %d)",
                            job.name,
                            _killed_message(died, attempt),
                            attempt + 1,
                            self.retries + 1,
                        )
                        self.submit(job, attempt + 1)
                        continue
                    last = getattr(getattr(died, "last_worker", None), "address", None)
                    result = SceneResult.failed(
                        job,
                        _killed_message(died, attempt),
                        worker=None if last is None else str(last),
                        attempts=attempt,
                    )
                else:
                    future.release()
                yield job, result
        except BaseException:  # interrupted: stop what was submitted
            with contextlib.suppress(Exception):
                self.client.cancel([f for f, *_ in self.pending.values()])
            raise


def _collect(future: Future, job: SceneJob, attempt: int) -> SceneResult | None:
    """The task's result with its attempt count; None when its worker died."""
    if future.status == "finished":
        result: SceneResult = future.result()
        return dataclasses.replace(result, attempts=attempt)
    if future.status == "cancelled":
        return SceneResult.failed(
            job,
            "the task was cancelled (scheduler restarted or client disconnected?)",
            attempts=attempt,
        )
    exc = future.exception()
    if is_killed_worker(exc):
        return None
    # The task itself turns every exception into a result, so this is the cluster's doing,
    # e.g. a worker that cannot import cascade or unpickle the task.
    return SceneResult.failed(job, f"{type(exc).__name__}: {exc}", attempts=attempt)


def _gather(
    submitter: _Submitter,
    total: int,
    progress: Callable[[SceneResult, int, int], None] | None,
) -> dict[str, SceneResult]:
    """Every scene's final result by name, logged and reported as it comes."""
    results: dict[str, SceneResult] = {}
    for job, result in submitter.results():
        results[job.name] = result
        log.info(
            "%s: %s in %.1f s on %s%s",
            job.name,
            result.status,
            result.seconds,
            result.worker,
            f": {result.error}" if result.error else "",
        )
        if progress is not None:
            progress(result, len(results), total)
    return results


@contextlib.contextmanager
def _fine_progress_topic(
    client: Client, batch_id: str, handler: Callable[[str, int, int], None] | None
) -> Iterator[str | None]:
    """A topic the workers send fine-stage progress to, forwarded to ``handler``."""
    if handler is None:
        yield None
        return
    topic = f"cascade-batch-{batch_id}"

    def on_event(event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        handler(str(msg["scene"]), int(msg["done"]), int(msg["total"]))

    client.subscribe_topic(topic, on_event)
    try:
        yield topic
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(topic)


def run_batch(
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    model: str | Path | None,
    *,
    config: EngineConfig | None = None,
    scheduler: str | Client | LocalCluster | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    overwrite: bool = False,
    retries: int = 2,
    resampling: str = "bilinear",
    progress: Callable[[SceneResult, int, int], None] | None = None,
    fine_progress: Callable[[str, int, int], None] | None = None,
    report: str | Path | None = None,
    valid: bool = False,
) -> BatchReport:
    """Mask every scene of ``inputs`` into ``out_dir`` on a Dask cluster (see the module doc).

    ``inputs``: see :func:`expand_inputs`. ``model``: a model pair folder that every worker
    can read at the same path. ``scheduler``: None for a local cluster of ``workers``
    processes with ``threads_per_worker`` threads (default: sized to the machine, see
    :func:`cluster_size`), an address (``tcp://host:8786``) of a running scheduler (then
    ``workers`` waits for that many), or a ``Client`` / ``LocalCluster`` to use.
    ``retries``: how many more times a scene is submitted after a worker died running it.
    ``progress(result, done, total)`` is called after each scene, ``fine_progress(scene,
    done, total)`` with the fine patches of running scenes (about once a second each).
    ``valid``: also write each scene's usable-ground mask ``NAME_valid.tif`` (made from the
    mask on disk, no model run, for a scene whose matching mask exists).
    The report is written to ``report`` (default ``out_dir/batch-report.json``). Raises
    :class:`BatchError` before any work for bad inputs, clashing names or an unusable model;
    scenes that fail do not raise, see :attr:`BatchReport.ok`.
    """
    if retries < 0:
        raise BatchError(f"retries must be >= 0, got {retries}")
    config = config or EngineConfig()
    jobs = plan_scenes(inputs, out_dir, valid=valid)
    report_path = Path(report) if report is not None else Path(out_dir) / REPORT_NAME
    _check_paths(jobs, report_path)
    ref = ModelRef.from_folder(resolve_model_dir(model, jobs[0].input if jobs else None))
    out = _output_folder(out_dir)
    targets = {Path(o).name for j in jobs for o in j.outputs}
    for line in remove_temporaries(out, targets):
        log.info("%s (an earlier, interrupted batch)", line)

    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    batch_id = uuid.uuid4().hex[:12]
    with connect(scheduler, workers, threads_per_worker) as (client, cluster_info):
        startup_s = time.perf_counter() - t_start
        log.info(
            "%d scene(s) to %s on %s (%d worker(s) now)",
            len(jobs),
            out,
            cluster_info["scheduler"],
            len(client.scheduler_info(n_workers=-1).get("workers", {})),
        )
        t_run = time.perf_counter()
        with _fine_progress_topic(client, batch_id, fine_progress) as topic:
            args = (ref, config, overwrite, resampling)
            submitter = _Submitter(client, args, retries, batch_id, topic)
            for job in jobs:
                submitter.submit(job, 1)
            results = _gather(submitter, len(jobs), progress)
        wall_s = time.perf_counter() - t_run

    batch = BatchReport(
        scenes=[results[j.name] for j in jobs],
        out_dir=str(out),
        wall_s=wall_s,
        startup_s=startup_s,
        model={**ref.description, "folder": ref.folder, "sidecars_sha256": ref.sidecars_sha256},
        config={**config.to_dict(), "resampling": resampling},
        cluster=cluster_info,
        retries=retries,
        overwrite=overwrite,
        started_utc=started,
    )
    batch.write(report_path)
    return batch


def _check_paths(jobs: Sequence[SceneJob], report: Path) -> None:
    """Refuse outputs that are inputs or other outputs (see the module docstring)."""
    from cascade.io.files import check_distinct
    from cascade.io.scene import scene_inputs

    outputs: dict[str, str | Path] = {"batch report": report}
    for j in jobs:
        outputs[f"mask of {j.name}"] = j.output
        outputs[f"report of {j.name}"] = j.report
        if j.valid is not None:
            outputs[f"usable mask of {j.name}"] = j.valid
    try:
        check_distinct(outputs, [p for j in jobs for p in scene_inputs(j.input)])
    except CascadeError as exc:
        raise BatchError(str(exc)) from exc
