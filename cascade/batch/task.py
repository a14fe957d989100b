"""One scene of a batch, on a worker: the model pair it needs, resume, and its result.

What travels to a worker is the scene's paths, a :class:`ModelRef` (the model folder's path
and its sidecars' SHA-256) and the engine configuration; each worker process loads the model
pair once and reuses it (:func:`worker_model`). A task first looks at its output: one whose
provenance tags match this run is *skipped*, one that differs is left alone and reported
``exists-differs`` unless ``overwrite``; every exception becomes a ``failed`` result. A
usable-ground mask asked for is checked alike; when only it is missing, it is made from the
matching mask (no model run).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cascade.batch.cluster import progress_sender, worker_name
from cascade.batch.plan import SceneJob
from cascade.engine import CascadeModel, EngineConfig, provenance
from cascade.errors import BatchError, CascadeError

__all__ = [
    "STATUSES",
    "ModelRef",
    "SceneResult",
    "SceneStatus",
    "expected_tags",
    "mask_task",
    "remove_temporaries",
    "resolve_model_dir",
    "worker_model",
]

log = logging.getLogger("cascade.batch")

SceneStatus = Literal["ok", "skipped", "failed", "exists-differs"]
STATUSES: tuple[SceneStatus, ...] = ("ok", "skipped", "failed", "exists-differs")


# -- the model ---------------------------------------------------------------------------


def resolve_model_dir(
    model: str | Path | None, first_scene: str | Sequence[str] | None = None
) -> Path:
    """The model pair folder a batch uses, absolute.

    ``model`` is a folder or a shipped pair's name (``sentinel2-l1c-7``, ``rgbn``); without
    it, the shipped pair that fits the bands of ``first_scene`` (the batch's first input) is
    used for every scene of the batch (:func:`cascade.models.pretrained.pick_model`).
    """
    from cascade.models.pretrained import pick_model

    if (model is None or not str(model)) and first_scene is None:
        raise BatchError(
            "no model pair given and no scene to pick one by; pass --model MODEL_DIR (a folder "
            "with coarse.json, fine.json and their weights) or a shipped model's name"
        )
    choice = pick_model(model, first_scene if first_scene is not None else [])
    if choice.shipped:
        log.info("model: shipped %s (%s)", choice.name, choice.reason)
    return Path(os.path.abspath(choice.folder))


def _sidecars_sha256(folder: Path) -> dict[str, str]:
    from cascade.models.artifacts import sha256_file

    return {role: sha256_file(folder / f"{role}.json") for role in ("coarse", "fine")}


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
        s = self.sidecars_sha256
        return hashlib.sha256(f"{s['coarse']}:{s['fine']}".encode()).hexdigest()

    @property
    def threshold(self) -> float:
        return float(self.description["threshold"])

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelRef:
        """Check a model pair folder (sidecars and weights' SHA-256) without TensorFlow."""
        from cascade.models.artifacts import load_pair_specs
        from cascade.models.predictor import describe_pair

        path = Path(os.path.abspath(folder))
        specs = load_pair_specs(path)
        # The same description the engine records, from the sidecars alone.
        described = describe_pair(specs.coarse, specs.fine, path.name)
        return cls(str(path), _sidecars_sha256(path), described)


_MODELS: OrderedDict[tuple[str, str, int], CascadeModel] = OrderedDict()
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 2  # a long-lived worker serving batches of several models keeps the last two


def worker_model(ref: ModelRef, batch_size: int) -> tuple[CascadeModel, float]:
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
                f"model folder {folder} is not visible on this worker ({worker_name()}); "
                "workers read the model pair from the same path: put it on shared storage or "
                "copy it to that path on every worker"
            )
        here = _sidecars_sha256(folder)
        if here != ref.sidecars_sha256:
            raise BatchError(
                f"the model pair at {folder} on this worker ({worker_name()}) differs from "
                f"the client's (sidecar SHA-256 {here} here, {ref.sidecars_sha256} there); "
                "every worker must see the same model pair"
            )
        model = load_cascade_model(folder, batch_size=batch_size)
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
        return model, time.perf_counter() - t0


# -- one scene ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneResult:
    """What happened to one scene.

    ``status``: ``ok`` (masked now, or a usable-ground mask made now from a matching mask
    that existed: then ``patches_run`` is None), ``skipped`` (a matching output existed),
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
    valid: str | None = None
    seconds: float = 0.0
    patches_run: int | None = None
    cells: int | None = None
    worker: str | None = None
    attempts: int = 1
    model_load_s: float = 0.0
    error: str | None = None

    @classmethod
    def of(cls, job: SceneJob, status: SceneStatus, **fields: Any) -> SceneResult:
        """The result of ``job`` with ``status`` (``fields``: seconds, worker, error, ...)."""
        return cls(job.name, job.input, job.output, job.report, status, job.valid, **fields)

    @classmethod
    def failed(cls, job: SceneJob, error: str, **fields: Any) -> SceneResult:
        """The one constructor of a ``failed`` result: ``error`` says why."""
        return cls.of(job, "failed", error=error, **fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def expected_tags(
    job: SceneJob, ref: ModelRef, config: EngineConfig, resampling: str
) -> dict[str, Any]:
    """The identity tags (:mod:`cascade.engine.provenance`) this run would write."""
    from cascade.io.scene import scene_inputs

    threshold = config.threshold if config.threshold is not None else ref.threshold
    record = provenance.config_record(config, threshold, resampling)
    return provenance.identity_tags(scene_inputs(job.input), ref.description, record)


def _output_differences(path: str, expected: dict[str, Any]) -> list[str] | None:
    """None when there is no raster at ``path``; else what differs from this run's
    ``expected`` identity tags (empty: it matches)."""
    from cascade.io.raster import read_tags

    if not Path(path).exists():
        return None
    try:
        tags = read_tags(path)
    except CascadeError as exc:
        return [f"unreadable ({exc})"]
    return provenance.identity_differences(tags, expected)


def remove_temporaries(folder: Path, targets: set[str]) -> list[str]:
    """Clean up what killed writers of ``targets`` (file names in ``folder``) left there.

    The batch owns its outputs, so whatever process on whatever worker left them, they are
    stale: temporary files are removed and a commit that was cut short is completed
    (:func:`cascade.io.files.recover_outputs`). Returns what was done, one line each.
    """
    from cascade.io.files import recover_outputs

    return recover_outputs([folder / name for name in sorted(targets)], any_owner=True)


def _resume(
    job: SceneJob, ref: ModelRef, config: EngineConfig, overwrite: bool, resampling: str
) -> tuple[list[str] | None, bool, SceneResult | None, bool]:
    """``(differences, stale outputs, result, make usable)``: a result when the scene needs
    no model run; ``make usable``: only the usable-ground mask is to be made, from the mask."""
    expected = expected_tags(job, ref, config, resampling)
    differs = _output_differences(job.output, expected)
    valid_differs = None if job.valid is None else _output_differences(job.valid, expected)
    report_exists = Path(job.report).exists()
    # Outputs of this scene left without a matching mask: the batch's own unfinished work.
    stale = report_exists or valid_differs is not None
    done = None
    if differs == [] and report_exists and not overwrite:
        if job.valid is None or valid_differs == []:
            done = SceneResult.of(job, "skipped")
        elif valid_differs is None:
            return differs, stale, None, True
        else:
            done = SceneResult.of(
                job,
                "exists-differs",
                error=f"{job.valid} exists and differs from this run in "
                f"{', '.join(valid_differs)}; left as it is (pass --overwrite to replace it)",
            )
    elif differs and not overwrite:
        done = SceneResult.of(
            job,
            "exists-differs",
            error=f"{job.output} exists and differs from this run in "
            f"{', '.join(differs)}; left as it is (pass --overwrite to replace it)",
        )
    return differs, stale, done, False


def mask_task(
    job: SceneJob,
    ref: ModelRef,
    config: EngineConfig,
    overwrite: bool,
    resampling: str,
    attempt: int,
    progress_topic: str | None,
) -> SceneResult:
    """Mask one scene on a worker; every exception becomes a ``failed`` result."""
    from cascade.engine import mask_scene, write_usable

    t0 = time.perf_counter()
    worker = worker_name()
    try:
        if attempt > 1:  # an earlier attempt may have died while writing
            names = {Path(p).name for p in job.outputs}
            for line in remove_temporaries(Path(job.output).parent, names):
                log.info("%s: %s (a worker that died)", job.name, line)
        differs, stale, done, make_usable = _resume(job, ref, config, overwrite, resampling)
        if done is not None:
            seconds = round(time.perf_counter() - t0, 3)
            return dataclasses.replace(done, worker=worker, seconds=seconds)
        if make_usable and job.valid is not None:
            write_usable(job.output, job.valid)
            seconds = round(time.perf_counter() - t0, 3)
            return SceneResult.of(job, "ok", seconds=seconds, worker=worker)
        model, load_s = worker_model(ref, config.batch_size)
        result = mask_scene(
            job.input,
            job.output,
            model,
            config=config,
            report=job.report,
            valid=job.valid,
            # A matching mask without its report is this batch's own unfinished work; a
            # report or usable mask without a matching mask is stale: all are replaced.
            overwrite=overwrite or differs == [] or stale,
            resampling=resampling,
            progress=progress_sender(job.name, progress_topic),
        )
    except Exception as exc:  # any scene's failure is reported, the batch goes on
        message = str(exc) if isinstance(exc, CascadeError) else f"{type(exc).__name__}: {exc}"
        seconds = round(time.perf_counter() - t0, 3)
        return SceneResult.failed(job, message or repr(exc), worker=worker, seconds=seconds)
    return SceneResult.of(
        job,
        "ok",
        seconds=round(time.perf_counter() - t0, 3),
        patches_run=int(result.report["patches_run"]),
        cells=int(result.report["cells"]),
        worker=worker,
        model_load_s=round(load_s, 3),
    )
