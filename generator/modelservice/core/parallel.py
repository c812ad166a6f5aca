"""Spreading per-file work over the machine's cores, for commands given many files.

Workers are started with ``spawn``: the parent may already hold Helm's Go runtime, which
does not survive ``fork``. Small batches run in-process, where starting workers would cost
more than it saves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items, work runs in-process.
MIN_ITEMS_FOR_POOL = 64
#: Chunks per worker: a worker that finishes early (or gets more of a shared machine's CPU)
#: takes the next chunk instead of waiting for the slowest one.
CHUNKS_PER_WORKER = 4


def workers_for(count: int) -> int:
    """How many worker processes ``count`` items deserve (1 means in-process)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if count < MIN_ITEMS_FOR_POOL or not cpus or cpus < 2:
        return 1
    return min(cpus, 8)


def _chunks(items: Sequence[T], n: int) -> list[Sequence[T]]:
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)]


def map_chunks(
    func: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """``func`` over contiguous chunks of ``items``, results in the order of ``items``.

    ``func`` must be a module-level function (it is pickled to the workers) that maps a chunk
    to one result per item. With ``progress``, it is called with the number of items of each
    chunk done; the work is then cut into smaller chunks, so that progress moves steadily.
    """
    workers = workers_for(len(items))
    if progress is not None:
        return _map_with_progress(func, items, workers, progress)
    if workers == 1:
        return func(items)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Helm's Go runtime reads GOGC from the environment a process starts with. Renders
    # allocate little and briefly, so collecting less often saves about a fifth of the CPU on
    # many files (bench/bench_render.py); a user's own GOGC still wins.
    os.environ.setdefault("GOGC", "400")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results: list[R] = []
        for part in pool.map(func, _chunks(items, workers * CHUNKS_PER_WORKER)):
            results.extend(part)
        return results


#: Most items in one chunk when progress is reported.
PROGRESS_CHUNK = 16


def _map_with_progress(
    func: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    workers: int,
    progress: Callable[[int], None],
) -> list[R]:
    """:func:`map_chunks` in chunks of at most :data:`PROGRESS_CHUNK` items (a few per
    worker), reporting each chunk as it completes."""
    size = max(1, min(PROGRESS_CHUNK, -(-len(items) // (workers * 4))))
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    if workers == 1:
        results: list[R] = []
        for part in parts:
            results.extend(func(part))
            progress(len(part))
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    os.environ.setdefault("GOGC", "400")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(func, part): len(part) for part in parts}
        for future in as_completed(futures):
            future.result()  # a worker's exception surfaces here, as with map_chunks
            progress(futures[future])
        return [result for future in futures for result in future.result()]
