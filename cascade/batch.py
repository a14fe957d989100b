"""Batch masking: many scenes, one command, on a Dask distributed cluster.

``run_batch`` masks every scene of a batch with :func:`cascade.engine.mask_scene` and returns a
:class:`BatchReport`; ``cascade batch`` is its command line. What happens:

1. **Plan** (on the client, before any work): the inputs (files, globs, folders of band files,
   ``@list.txt`` files) are expanded to scenes, each scene gets ``<out-dir>/<name>_mask.tif``
   and its report ``<name>_mask.json``, and two scenes with one output name are an error.
   The model pair folder is checked (sidecars, weights' SHA-256) once.
2. **Run**: every scene is one Dask task. By default the cluster is an in-process
   ``LocalCluster`` sized to the machine (:func:`local_cluster`); ``scheduler=`` sends the
   tasks to an existing cluster instead. What travels is the scene's paths, the model
   folder's path and its sidecars' SHA-256, and the engine configuration: workers read the
   scenes and the model from storage they can see, and each worker process loads the model
   pair once and reuses it (a per-process cache keyed by folder, sidecar SHA-256 and batch
   size).
3. **Resume**: a task first looks at its output. One that exists and whose GeoTIFF tags
   (``inputs``, ``model``, ``config``, written by the engine) match this scene, model and
   configuration is *skipped*; one that differs is left alone and reported
   ``exists-differs`` unless ``overwrite``. Nothing that exists is replaced without it.
4. **Failures**: a scene that raises is reported ``failed`` with its error, and the batch
   goes on. A worker process that dies mid-scene (killed, out of memory) leaves no partial
   output, because the engine writes every file to a temporary name and renames it when
   complete; the scene is submitted again, at most ``retries`` more times. Temporary files
   that a dead worker left behind are removed.
5. **Report**: ``<out-dir>/batch-report.json`` (written atomically) holds every scene's
   status, time, patches run, worker, attempts and error, and the totals.

Dask is imported only in this module (and lazily by the CLI command).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cascade import __version__
from cascade.engine import CascadeModel, EngineConfig
from cascade.errors import CascadeError

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

__all__ = [
    "REPORT_NAME",
    "BatchError",
    "BatchReport",
    "ModelRef",
    "SceneJob",
    "SceneResult",
    "SceneStatus",
    "cluster_size",
    "expand_inputs",
    "load_model_on_workers",
    "local_cluster",
    "plan_scenes",
    "resolve_model_dir",
    "run_batch",
    "scene_name",
    "set_dask_log_level",
]

log = logging.getLogger(__name__)

SceneStatus = Literal["ok", "skipped", "failed", "exists-differs"]
STATUSES: tuple[SceneStatus, ...] = ("ok", "skipped", "failed", "exists-differs")

REPORT_NAME = "batch-report.json"
MASK_SUFFIX = "_mask.tif"
REPORT_SUFFIX = "_mask.json"
# A worker masking a full Sentinel-2 tile peaks at about 2.1 GB (benchmarks/results/engine.json);
# the local cluster gets at most one worker per this much memory.
WORKER_MEMORY_GIB = 3.0
# How often a worker reports fine-stage progress of a scene (seconds).
FINE_PROGRESS_INTERVAL_S = 1.0

_GLOB_CHARS = frozenset("*?[")
# atomic_output's temporary names: ".<target>.<random>.tmp" (GDAL may add ".ovr.tmp" to them).
_TEMPORARY = re.compile(r"^\.(?P<target>.+?(?:_mask\.tif|_mask\.json))\..*\.tmp$")


class BatchError(CascadeError, ValueError):
    """A batch that cannot start: no inputs, clashing output names, no usable model, etc."""


# -- planning ----------------------------------------------------------------------------


def _has_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def _is_list_file(text: str) -> bool:
    return text.startswith("@") or (text.lower().endswith(".txt") and not _has_glob(text))


def _scene_path(path: Path, given: str) -> Path:
    """Check that ``path`` can be one scene; return it absolute (not resolving symlinks)."""
    from cascade import io

    path = Path(os.path.abspath(path))
    if not path.exists():
        raise BatchError(
            f"input {given} does not exist; expected a raster file, a folder of band files, "
            "a glob or @list.txt"
        )
    if path.is_dir():
        files = io.band_files_in(path)
        if not files:
            raise BatchError(
                f"folder {given} holds no raster files (.tif, .jp2, ...); a folder input is one "
                "scene of single-band files named like B01.tif"
            )
        if not any(io.has_band_token(p) for p in files):
            shown = ", ".join(p.name for p in files[:3]) + (", ..." if len(files) > 3 else "")
            raise BatchError(
                f"folder {given} holds raster files that are not named as band files ({shown}); "
                "a folder input is one scene of single-band files named like B01.tif or "
                f"T33UUP_20200101_B8A.jp2. For a folder of scenes pass a glob: "
                f"'{Path(given) / '*.tif'}'"
            )
    return path


def _expand_one(text: str, where: str) -> list[Path]:
    from cascade import io

    if _has_glob(text):
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise BatchError(
                f"no files match {text!r}{where}; expected raster files, folders of band files, "
                "globs or @list.txt (quote globs so that the shell passes them on)"
            )
        scenes = [Path(m) for m in matches if Path(m).is_dir() or io.is_raster_name(m)]
        if not scenes:
            raise BatchError(
                f"{text!r}{where} matches {len(matches)} path(s) but no raster file (.tif, "
                f".jp2, ...) or folder, e.g. {matches[0]}"
            )
        return [_scene_path(p, str(p)) for p in scenes]
    return [_scene_path(Path(text), text)]


def expand_inputs(inputs: str | Path | Sequence[str | Path]) -> list[Path]:
    """The scenes named by ``inputs``, absolute, in order, each once.

    Each input is a raster file (one scene), a folder of single-band files (one scene, as
    :func:`cascade.io.open_source` reads it), a glob (``"scenes/*.tif"``, ``**`` recurses;
    matches that are neither folders nor raster files are left out), or a text file listing
    inputs one per line, given as ``@list.txt`` or any ``.txt`` file (blank lines and lines
    starting with ``#`` are ignored; relative paths are relative to the list's folder;
    lists do not nest). Raises :class:`BatchError` naming the input that matched nothing.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if not items:
        raise BatchError("no inputs given; expected raster files, folders, globs or @list.txt")
    scenes: list[Path] = []
    for item in items:
        text = str(item)
        if not _is_list_file(text):
            scenes += _expand_one(text, "")
            continue
        list_path = Path(text[1:] if text.startswith("@") else text)
        if not list_path.is_file():
            raise BatchError(
                f"input list {list_path} does not exist (from {text!r}); a list is a text file "
                "with one raster file, folder or glob per line"
            )
        try:
            lines = list_path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BatchError(f"cannot read input list {list_path}: {exc}") from exc
        entries = [(n, s.strip()) for n, s in enumerate(lines, 1)]
        entries = [(n, s) for n, s in entries if s and not s.startswith("#")]
        if not entries:
            raise BatchError(
                f"input list {list_path} lists no inputs; expected one raster file, folder or "
                "glob per line (# starts a comment)"
            )
        for n, entry in entries:
            where = f" (line {n} of {list_path})"
            if _is_list_file(entry):
                raise BatchError(
                    f"input list {list_path} names another list {entry!r}{where}; lists "
                    "do not nest, name its inputs directly"
                )
            resolved = entry if Path(entry).is_absolute() else str(list_path.parent / entry)
            scenes += _expand_one(resolved, where)
    unique: dict[Path, None] = dict.fromkeys(scenes)  # the same scene named twice runs once
    return list(unique)


def scene_name(path: Path) -> str:
    """The name a scene's outputs are called after: the file's stem, or the folder's name.

    A Sentinel-2 ``.../GRANULE/<granule>/IMG_DATA`` folder is named after its granule.
    """
    if path.is_dir():
        return path.parent.name if path.name.upper() == "IMG_DATA" else path.name
    return path.stem


@dataclass(frozen=True)
class SceneJob:
    """One scene of a batch: where it is read from and written to (absolute paths)."""

    name: str
    input: str
    output: str
    report: str


def plan_scenes(inputs: str | Path | Sequence[str | Path], out_dir: str | Path) -> list[SceneJob]:
    """Expand ``inputs`` (see :func:`expand_inputs`) into jobs writing to ``out_dir``.

    Raises :class:`BatchError` when two scenes would get the same output name (compared
    case-insensitively, as some file systems do) or a scene's output is another scene's input.
    """
    out = Path(os.path.abspath(out_dir))
    jobs: list[SceneJob] = []
    by_name: dict[str, SceneJob] = {}
    for path in expand_inputs(inputs):
        name = scene_name(path)
        job = SceneJob(
            name=name,
            input=str(path),
            output=str(out / f"{name}{MASK_SUFFIX}"),
            report=str(out / f"{name}{REPORT_SUFFIX}"),
        )
        other = by_name.get(name.casefold())
        if other is not None:
            raise BatchError(
                f"inputs {other.input} and {job.input} would both be written to "
                f"{job.output}; rename one of them or mask them in separate batches "
                "(another --out-dir)"
            )
        by_name[name.casefold()] = job
        jobs.append(job)
    outputs = {Path(j.output): j for j in jobs} | {Path(j.report): j for j in jobs}
    for j in jobs:
        if Path(j.input) in outputs:
            raise BatchError(
                f"input {j.input} is also the output of scene {outputs[Path(j.input)].name}; "
                "use an --out-dir that holds no inputs"
            )
    return jobs


# -- the model ---------------------------------------------------------------------------


def resolve_model_dir(
    model: str | Path | None, first_scene: str | Sequence[str] | None = None
) -> Path:
    """The model pair folder a batch uses, absolute.

    ``model`` is a folder or a shipped pair's name (``sentinel2-l1c-7``, ``rgbn``); without
    it, the shipped pair that fits the bands of ``first_scene`` (the batch's first input) is
    used for every scene of the batch.
    """
    from cascade.pretrained import choose_model, resolve_model

    if model is not None and str(model):
        return Path(os.path.abspath(resolve_model(model)))
    if first_scene is None:
        raise BatchError(
            "no model pair given and no scene to pick one by; pass --model MODEL_DIR (a folder "
            "with coarse.json, fine.json and their weights) or a shipped model's name"
        )
    from cascade import io

    with io.open_source(first_scene if isinstance(first_scene, str) else list(first_scene)) as src:
        names = list(src.band_names)
    choice = choose_model(names, source=str(first_scene))
    log.info("model: shipped %s (%s)", choice.name, choice.reason)
    return Path(os.path.abspath(choice.folder))


def _sidecars_sha256(folder: Path) -> dict[str, str]:
    from cascade.artifacts import sha256_file

    return {role: sha256_file(folder / f"{role}.json") for role in ("coarse", "fine")}


def _fingerprint(sidecars: dict[str, str]) -> str:
    return hashlib.sha256(f"{sidecars['coarse']}:{sidecars['fine']}".encode()).hexdigest()


def _not_loaded(batch: Any) -> Any:
    raise CascadeError("the batch planner's model description holds no predictor")


@dataclass(frozen=True)
class ModelRef:
    """What a task needs to know about the model pair, without its weights.

    ``folder`` (absolute, must be readable on every worker), ``sidecars_sha256`` (of
    ``coarse.json`` and ``fine.json``; they carry the weights' SHA-256 in turn),
    ``description``: what the engine writes into the ``model`` tag of every mask.
    """

    folder: str
    sidecars_sha256: dict[str, str]
    description: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.sidecars_sha256)

    @property
    def threshold(self) -> float:
        return float(self.description["threshold"])

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelRef:
        """Check a model pair folder (sidecars and weights' SHA-256) without TensorFlow."""
        from cascade.artifacts import load_pair_specs

        path = Path(os.path.abspath(folder))
        specs = load_pair_specs(path)
        # The same description the engine records, from a model whose predictors are absent.
        described = CascadeModel(
            coarse=_not_loaded,
            fine=_not_loaded,
            coarse_spec=specs.coarse,
            fine_spec=specs.fine,
            name=path.name,
        ).describe()
        return cls(str(path), _sidecars_sha256(path), described)


_MODELS: OrderedDict[tuple[str, str, int], CascadeModel] = OrderedDict()
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 2  # a long-lived worker serving batches of several models keeps the last two


def _worker_model(ref: ModelRef, batch_size: int) -> tuple[CascadeModel, float]:
    """The model pair of ``ref`` in this process (loaded on first use); load seconds or 0."""
    from cascade.engine import load_cascade_model

    key = (ref.folder, ref.fingerprint, batch_size)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            _MODELS.move_to_end(key)
            return model, 0.0
        t0 = time.perf_counter()
        folder = Path(ref.folder)
        if not folder.is_dir():
            raise BatchError(
                f"model folder {folder} is not visible on this worker ({_worker_name()}); "
                "workers read the model pair from the same path: put it on shared storage or "
                "copy it to that path on every worker"
            )
        here = _sidecars_sha256(folder)
        if here != ref.sidecars_sha256:
            raise BatchError(
                f"the model pair at {folder} on this worker ({_worker_name()}) differs from "
                f"the client's (sidecar SHA-256 {here} here, {ref.sidecars_sha256} there); "
                "every worker must see the same model pair"
            )
        model = load_cascade_model(folder, batch_size=batch_size)
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
        return model, time.perf_counter() - t0


# -- one scene, on a worker ------------------------------------------------------------------


@dataclass(frozen=True)
class SceneResult:
    """What happened to one scene.

    ``status``: ``ok`` (masked now), ``skipped`` (a matching output existed),
    ``exists-differs`` (an output made from other inputs, model or configuration exists and
    was left alone), ``failed`` (``error`` says why). ``seconds``: the task's wall time on
    the worker; ``patches_run`` and ``cells``: the engine's fine patches and grid cells;
    ``model_load_s``: time this task spent loading the model pair (0 when the worker had it);
    ``attempts``: how many times the scene was submitted.
    """

    name: str
    input: str
    output: str
    report: str
    status: SceneStatus
    seconds: float = 0.0
    patches_run: int | None = None
    cells: int | None = None
    worker: str | None = None
    attempts: int = 1
    model_load_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def _expected_tags(job: SceneJob, ref: ModelRef, config: EngineConfig) -> dict[str, Any]:
    """What the engine would write into the ``inputs``, ``model`` and ``config`` tags."""
    from cascade import io

    path = Path(job.input)
    inputs = [str(p) for p in io.band_files_in(path)] if path.is_dir() else [str(path)]
    threshold = config.threshold if config.threshold is not None else ref.threshold
    expected = {
        "inputs": inputs,
        "model": ref.description,
        "config": config.to_dict() | {"threshold_used": threshold},
    }
    return dict(json.loads(json.dumps(expected)))


def _output_differences(job: SceneJob, ref: ModelRef, config: EngineConfig) -> list[str] | None:
    """None when there is no output; else what differs from this run (empty: it matches)."""
    from cascade import io

    if not Path(job.output).exists():
        return None
    try:
        tags = io.read_tags(job.output)
    except CascadeError as exc:
        return [f"unreadable ({exc})"]
    expected = _expected_tags(job, ref, config)
    differs = []
    for key, want in expected.items():
        try:
            got = json.loads(tags[key])
        except (KeyError, json.JSONDecodeError):
            differs.append(f"{key} (no cloud-cascade tag)")
            continue
        if key == "model":  # the pair's identity is its content, wherever its folder is
            got = {k: v for k, v in got.items() if k != "name"} if isinstance(got, dict) else got
            want = {k: v for k, v in want.items() if k != "name"}
        if got != want:
            differs.append(key)
    return differs


def _remove_temporaries(folder: Path, targets: set[str]) -> list[Path]:
    """Remove temporary files of ``targets`` (file names) a killed writer left in ``folder``."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            m = _TEMPORARY.match(entry.name)
            if m and m.group("target") in targets and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _mask_task(
    job: SceneJob,
    ref: ModelRef,
    config: EngineConfig,
    overwrite: bool,
    resampling: str,
    attempt: int,
    progress_topic: str | None,
) -> SceneResult:
    """Mask one scene on a worker; every exception becomes a ``failed`` result."""
    from cascade.engine import mask_scene

    t0 = time.perf_counter()
    worker = _worker_name()
    base = SceneResult(job.name, job.input, job.output, job.report, "failed", worker=worker)
    try:
        if attempt > 1:  # an earlier attempt may have died while writing
            names = {Path(job.output).name, Path(job.report).name}
            for p in _remove_temporaries(Path(job.output).parent, names):
                log.info("%s: removed %s left by a worker that died", job.name, p.name)
        differs = _output_differences(job, ref, config)
        report_exists = Path(job.report).exists()
        if differs == [] and report_exists and not overwrite:
            return dataclasses.replace(
                base, status="skipped", seconds=round(time.perf_counter() - t0, 3)
            )
        if differs and not overwrite:
            return dataclasses.replace(
                base,
                status="exists-differs",
                seconds=round(time.perf_counter() - t0, 3),
                error=f"{job.output} exists and differs from this run in "
                f"{', '.join(differs)}; left as it is (pass --overwrite to replace it)",
            )
        model, load_s = _worker_model(ref, config.batch_size)
        fine_progress = _progress_sender(job.name, progress_topic)
        result = mask_scene(
            job.input,
            job.output,
            model,
            config=config,
            report=job.report,
            # A matching mask without its report is this batch's own unfinished work; a
            # report without its mask is stale: both are replaced.
            overwrite=overwrite or differs == [] or report_exists,
            resampling=resampling,
            progress=fine_progress,
        )
    except Exception as exc:  # any scene's failure is reported, the batch goes on
        message = str(exc) if isinstance(exc, CascadeError) else f"{type(exc).__name__}: {exc}"
        return dataclasses.replace(
            base, seconds=round(time.perf_counter() - t0, 3), error=message or repr(exc)
        )
    return dataclasses.replace(
        base,
        status="ok",
        seconds=round(time.perf_counter() - t0, 3),
        patches_run=int(result.report["patches_run"]),
        cells=int(result.report["cells"]),
        model_load_s=round(load_s, 3),
    )


def _progress_sender(name: str, topic: str | None) -> Callable[[int, int], None] | None:
    """A fine-stage progress callback that forwards (throttled) events to the client."""
    if topic is None:
        return None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    last = [0.0]

    def send(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < FINE_PROGRESS_INTERVAL_S:
            return
        last[0] = now
        worker.log_event(topic, {"scene": name, "done": done, "total": total})

    return send


# -- the cluster --------------------------------------------------------------------------


def cluster_size(
    workers: int | None = None, threads_per_worker: int | None = None
) -> tuple[int, int, int]:
    """``(workers, threads per worker, TensorFlow threads per scene)`` for this machine.

    One scene at a time per worker by default, one worker per core as long as each gets
    :data:`WORKER_MEMORY_GIB` of memory; the cores are shared among the scenes that run at once.
    """
    from dask.system import CPU_COUNT
    from distributed.system import MEMORY_LIMIT

    cores = CPU_COUNT  # honours CPU affinity and cgroup quotas, as LocalCluster does
    threads = threads_per_worker or 1
    if workers is None:
        mem_gib = MEMORY_LIMIT / 2**30
        workers = max(1, min(cores // threads, int(mem_gib // WORKER_MEMORY_GIB)))
    for name, value in (("workers", workers), ("threads_per_worker", threads)):
        if value < 1:
            raise BatchError(f"{name} must be >= 1, got {value}")
    return workers, threads, max(1, cores // (workers * threads))


def local_cluster(
    workers: int | None = None,
    threads_per_worker: int | None = None,
    *,
    silence_logs: int = logging.WARNING,
) -> LocalCluster:
    """An in-process Dask ``LocalCluster`` of worker processes set up for masking.

    Sized by :func:`cluster_size`; each worker's TensorFlow, Numba and OpenMP thread pools
    are limited to its share of the cores. The scheduler fails a task as soon as a worker
    dies under it (``allowed-failures`` 0) and sends each worker only as many scenes as it
    has threads, so that :func:`run_batch` does its own bounded retries and knows every
    scene's attempts. Close it (or use it as a context manager) when done.
    """
    import dask
    from distributed import LocalCluster

    n, threads, tf_threads = cluster_size(workers, threads_per_worker)
    env = {
        "TF_NUM_INTRAOP_THREADS": str(tf_threads),
        "TF_NUM_INTEROP_THREADS": "1",
        "NUMBA_NUM_THREADS": str(tf_threads),
        "OMP_NUM_THREADS": str(tf_threads),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    }
    settings = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(settings):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=None,
            silence_logs=silence_logs,
            env=env,
        )


def set_dask_log_level(level: int) -> None:
    """Set the level of Dask's loggers (``distributed`` logs every connection at INFO).

    Importing ``distributed`` sets up its loggers, so this imports it first.
    """
    import distributed  # noqa: F401

    logging.getLogger("distributed").setLevel(level)


@contextlib.contextmanager
def _connect(
    scheduler: str | Client | LocalCluster | None,
    workers: int | None,
    threads_per_worker: int | None,
) -> Iterator[tuple[Client, dict[str, Any]]]:
    """A client for the batch, and a description of its cluster; closes what it opened."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        address = str(scheduler.scheduler_info(n_workers=0).get("address", "?"))
        yield scheduler, {"scheduler": address, "kind": "given client"}
        return
    if isinstance(scheduler, LocalCluster):
        with Client(scheduler) as client:
            yield client, {"scheduler": scheduler.scheduler_address, "kind": "given cluster"}
        return
    if scheduler is not None:
        if threads_per_worker is not None:
            raise BatchError(
                f"threads per worker ({threads_per_worker}) only applies to the local cluster; "
                f"with a scheduler ({scheduler}) set it where the workers start "
                "(dask worker --nthreads N)"
            )
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise BatchError(
                f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}; expected an "
                "address like tcp://host:8786 of a running dask scheduler"
            ) from exc
        with client:
            if workers is not None:
                log.info("waiting for %d worker(s) at %s", workers, scheduler)
                try:
                    client.wait_for_workers(workers, timeout=600)
                except TimeoutError as exc:
                    raise BatchError(
                        f"fewer than {workers} workers joined {scheduler} within 600 s; start "
                        "more workers or ask for fewer (--workers)"
                    ) from exc
            yield client, {"scheduler": str(scheduler), "kind": "external"}
        return
    cluster = local_cluster(workers, threads_per_worker)
    try:
        n, threads, tf_threads = cluster_size(workers, threads_per_worker)
        info = {
            "scheduler": cluster.scheduler_address,
            "kind": "local",
            "workers": n,
            "threads_per_worker": threads,
            "tf_threads_per_scene": tf_threads,
        }
        with Client(cluster) as client:
            yield client, info
    finally:
        # Every result is in: a worker slow to exit (TensorFlow's teardown on a busy machine)
        # is killed by its nanny after 4 s, harmlessly; its warning would only alarm.
        nanny_log = logging.getLogger("distributed.nanny")
        level = nanny_log.level
        nanny_log.setLevel(logging.ERROR)
        try:
            cluster.close()
        finally:
            nanny_log.setLevel(level)


def load_model_on_workers(
    client: Client, model: str | Path | None, batch_size: int = 8
) -> dict[str, float]:
    """Load the model pair on every worker of ``client`` now; ``{worker: load seconds}``.

    Batches load it on first use anyway; this is for timing without the load, or to fail
    early when a worker cannot read it. Runs as one task per worker (in its task thread,
    so that the worker stays responsive while TensorFlow loads).
    """
    ref = ModelRef.from_folder(resolve_model_dir(model))
    addresses = sorted(client.scheduler_info(n_workers=-1)["workers"])
    futures = {
        a: client.submit(
            _load_on_worker, ref, batch_size, workers=[a], allow_other_workers=False, pure=False
        )
        for a in addresses
    }
    return {a: float(f.result()) for a, f in futures.items()}


def _load_on_worker(ref: ModelRef, batch_size: int) -> float:
    return _worker_model(ref, batch_size)[1]


# -- the batch --------------------------------------------------------------------------


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
        done = self.count("ok")
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
        """Write the report as JSON, atomically (replacing an earlier batch's report)."""
        from cascade._files import atomic_output

        with atomic_output(path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        self.path = Path(path)
        return self.path


def _killed_message(exc: BaseException, attempts: int) -> str:
    worker = getattr(getattr(exc, "last_worker", None), "address", None)
    return (
        f"the worker running this scene died {attempts} time(s)"
        + (f" (last {worker})" if worker else "")
        + "; out of memory or killed? see the worker logs"
    )


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
    The report is written to ``report`` (default ``out_dir/batch-report.json``). Raises
    :class:`BatchError` before any work for bad inputs, clashing names or an unusable model;
    scenes that fail do not raise, see :attr:`BatchReport.ok`.
    """
    import datetime as dt

    from distributed import as_completed

    if retries < 0:
        raise BatchError(f"retries must be >= 0, got {retries}")
    config = config or EngineConfig()
    jobs = plan_scenes(inputs, out_dir)
    ref = ModelRef.from_folder(resolve_model_dir(model, jobs[0].input if jobs else None))
    out = Path(os.path.abspath(out_dir))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    if not os.access(out, os.W_OK):
        raise BatchError(f"cannot write to the output folder {out}; choose another --out-dir")
    report_path = Path(report) if report is not None else out / REPORT_NAME
    targets = {Path(j.output).name for j in jobs} | {Path(j.report).name for j in jobs}
    for p in _remove_temporaries(out, targets):
        log.info("removed %s left by an earlier, interrupted batch", p.name)

    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    results: dict[str, SceneResult] = {}
    batch_id = uuid.uuid4().hex[:12]
    with _connect(scheduler, workers, threads_per_worker) as (client, cluster_info):
        startup_s = time.perf_counter() - t_start
        topic = f"cascade-batch-{batch_id}" if fine_progress is not None else None
        if topic is not None and fine_progress is not None:
            handler = fine_progress

            def on_event(event: tuple[float, dict[str, Any]]) -> None:
                msg = event[1]
                handler(str(msg["scene"]), int(msg["done"]), int(msg["total"]))

            client.subscribe_topic(topic, on_event)
        log.info(
            "%d scene(s) to %s on %s (%d worker(s) now)",
            len(jobs),
            out,
            cluster_info["scheduler"],
            len(client.scheduler_info(n_workers=-1).get("workers", {})),
        )
        t_run = time.perf_counter()
        pending: dict[str, tuple[Future, SceneJob, int]] = {}  # key: (future, job, attempt)
        ac = as_completed()

        def submit(job: SceneJob, attempt: int) -> None:
            future = client.submit(
                _mask_task,
                job,
                ref,
                config,
                overwrite,
                resampling,
                attempt,
                topic,
                key=f"cascade-mask-{job.name}-{batch_id}-{attempt}",
                pure=False,
            )
            pending[str(future.key)] = (future, job, attempt)
            ac.add(future)

        try:
            for job in jobs:
                submit(job, 1)
            for future in ac:
                _, job, attempt = pending.pop(str(future.key))
                result = _collect(future, job, attempt)
                if result is None:  # the worker died under it
                    died = future.exception()
                    future.release()
                    if attempt <= retries:
                        log.warning(
                            "%s: %s; submitting it again (attempt %d of %d)",
                            job.name,
                            _killed_message(died, attempt),
                            attempt + 1,
                            retries + 1,
                        )
                        submit(job, attempt + 1)
                        continue
                    last = getattr(getattr(died, "last_worker", None), "address", None)
                    result = SceneResult(
                        job.name,
                        job.input,
                        job.output,
                        job.report,
                        "failed",
                        worker=None if last is None else str(last),
                        attempts=attempt,
                        error=_killed_message(died, attempt),
                    )
                else:
                    future.release()
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
                    progress(result, len(results), len(jobs))
        except BaseException:  # interrupted: stop what was submitted
            with contextlib.suppress(Exception):
                client.cancel([f for f, *_ in pending.values()])
            raise
        finally:
            if topic is not None:
                with contextlib.suppress(Exception):
                    client.unsubscribe_topic(topic)
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


def _collect(future: Future, job: SceneJob, attempt: int) -> SceneResult | None:
    """The task's result with its attempt count; None when its worker died."""
    from distributed.scheduler import KilledWorker

    if future.status == "finished":
        result: SceneResult = future.result()
        return dataclasses.replace(result, attempts=attempt)

    def failed(error: str) -> SceneResult:
        return SceneResult(
            job.name, job.input, job.output, job.report, "failed", attempts=attempt, error=error
        )

    if future.status == "cancelled":
        return failed("the task was cancelled (scheduler restarted or client disconnected?)")
    exc = future.exception()
    if isinstance(exc, KilledWorker):
        return None
    # The task itself turns every exception into a result, so this is the cluster's doing,
    # e.g. a worker that cannot import cascade or unpickle the task.
    return failed(f"{type(exc).__name__}: {exc}")
