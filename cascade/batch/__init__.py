"""Batch masking: many scenes, one command, on a Dask distributed cluster.

:func:`run_batch` (:mod:`cascade.batch.run`) masks every scene with
:func:`cascade.engine.mask_scene` and returns a :class:`BatchReport`; ``cascade batch`` is its
command line. Importing this package does not import Dask (only
:mod:`cascade.batch.cluster` does, when a cluster is used).
"""

from cascade.batch.cluster import (
    cluster_size,
    load_model_on_workers,
    local_cluster,
    set_dask_log_level,
)
from cascade.batch.plan import SceneJob, expand_inputs, plan_scenes, scene_name
from cascade.batch.run import REPORT_NAME, BatchReport, run_batch
from cascade.batch.task import ModelRef, SceneResult, SceneStatus, resolve_model_dir
from cascade.errors import BatchError

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
