"""The Dask cluster of a batch: the only module of cloud-cascade that imports Dask.

A local ``LocalCluster`` sized to the machine (:func:`local_cluster`) or a client of an
existing scheduler (:func:`connect`); on the workers, their name and the progress events
they send back to the client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cascade.errors import BatchError

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

    from cascade.batch.task import ModelRef

__all__ = [
    "WORKER_MEMORY_GIB",
    "as_completed",
    "cluster_size",
    "connect",
    "is_killed_worker",
    "load_model_on_workers",
    "local_cluster",
    "progress_sender",
    "set_dask_log_level",
    "worker_name",
    "worker_peak_rss_mib",
]

log = logging.getLogger("cascade.batch")

# A worker masking a full Sentinel-2 tile peaks at about 2.1 GB (the engine benchmark suite);
# the local cluster gets at most one worker per this much memory.
WORKER_MEMORY_GIB = 3.0
# How often a worker reports fine-stage progress of a scene (seconds).
FINE_PROGRESS_INTERVAL_S = 1.0


def worker_name() -> str:
    """The address of the Dask worker running this code, else this process's id."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def progress_sender(name: str, topic: str | None) -> Callable[[int, int], None] | None:
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


def is_killed_worker(exc: BaseException | None) -> bool:
    """True for the error Dask gives a task whose worker died under it."""
    from distributed.scheduler import KilledWorker

    return isinstance(exc, KilledWorker)


def as_completed() -> Any:
    """An empty ``distributed.as_completed`` to add futures to."""
    from distributed import as_completed as completed

    return completed()


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
        # TensorFlow's start-up lines only where the client shows them (cascade.models._tf).
        "CASCADE_TF_LOGS": os.environ.get("CASCADE_TF_LOGS", "0"),
    }
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        env["TF_CPP_MIN_LOG_LEVEL"] = os.environ["TF_CPP_MIN_LOG_LEVEL"]
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
def connect(
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
    from cascade.batch.task import ModelRef, resolve_model_dir

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
    from cascade.batch.task import worker_model

    return worker_model(ref, batch_size)[1]


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_peak_rss_mib(client: Client) -> dict[str, float]:
    """Peak resident memory of every worker process of ``client`` so far, MiB by address."""
    return {str(w): float(v) for w, v in client.run(_peak_rss_mib).items()}
