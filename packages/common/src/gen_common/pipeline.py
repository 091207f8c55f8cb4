"""Overlap the stages of a streaming job (decode, compute, encode) with bounded queues, keeping the order.

Written here rather than taken from a library: torch's DataLoader needs a Dataset and worker processes (a video
decoder is one sequential stream), and the standard library's executors do not bound memory. Two pieces:

* :func:`prefetch` runs an iterator in a background thread, at most ``depth`` items ahead of the consumer;
* :class:`OrderedSink` hands items to a function (an encoder's ``write``) in a background thread, in order, with at
  most ``depth`` waiting.

Errors in the background thread are raised in the caller (at its next item, put or close), so a broken input or a
full disk stops the job as it would without threads; nothing is dropped or reordered. Decoding and encoding in
PyAV / FFmpeg and most torch ops release the GIL, which is what lets the stages run at once.
"""

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], depth: int = 4, transform: Callable[[T], T] | None = None) -> Iterator[T]:
    """Yield ``items`` in order while a background thread produces up to ``depth`` of them ahead.

    Args:
        items: any iterable (e.g. a video decoder); consumed only by the background thread, and closed (a
            generator's ``close``: its files) when the consumer stops early.
        depth: the most items waiting (memory bound: depth + 2 items alive at once).
        transform: applied in the background thread to each item (e.g. ``Tensor.pin_memory``).

    Raises:
        ValueError: ``depth`` < 1 (at the call, not at the first item).
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return _prefetch(items, depth, transform)


def _prefetch(items: Iterable[T], depth: int, transform: Callable[[T], T] | None) -> Iterator[T]:
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(transform(item) if transform is not None else item):
                    return
            put(_DONE)
        except BaseException as err:  # handed to the consumer, raised there
            put(_Failure(err))
        finally:
            getattr(items, "close", lambda: None)()  # a generator's cleanup (an open video) runs in its thread

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:  # the consumer stopped early (break, error, close): let the producer end
        stop.set()
        thread.join(timeout=5)


class OrderedSink:
    """``put(item)`` hands items to ``write`` in a background thread, in order, at most ``depth`` waiting.

    Use as a context manager: leaving the block waits until every item was written and raises the writer's error,
    if any; an error inside the block stops the writer without writing the rest.
    """

    def __init__(self, write: Callable[[Any], Any], depth: int = 4) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._write, self._queue = write, queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ordered-sink", daemon=True)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as err:  # raised in the caller at its next put or at close
                    self._error = err

    def put(self, item: Any) -> None:
        """Queue one item (blocks while ``depth`` are waiting); raises an earlier write's error."""
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def __enter__(self) -> "OrderedSink":
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._error = self._error or exc  # skip what is still queued
        self._queue.put(_DONE)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error
