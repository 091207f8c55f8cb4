"""gen_common.pipeline: the background stages keep the order, bound memory and hand errors to the caller."""

import threading
import time

import pytest

from gen_common.pipeline import OrderedSink, prefetch


def test_prefetch_keeps_order_and_runs_at_most_depth_ahead():
    produced = []

    def items():
        for i in range(20):
            produced.append(i)
            yield i

    got = []
    for i in prefetch(items(), depth=3):
        time.sleep(0.005)  # a slow consumer: the producer may only run ahead by the queue's size
        assert len(produced) - len(got) <= 3 + 2  # queued + one in hand + one being put
        got.append(i)
    assert got == list(range(20))


def test_prefetch_raises_the_producers_error_in_order_and_stops_when_the_consumer_does():
    def broken():
        yield 1
        yield 2
        raise OSError("frame 3 is damaged")

    got = []
    with pytest.raises(OSError, match="frame 3"):
        for i in prefetch(broken(), depth=2):
            got.append(i)
    assert got == [1, 2]  # everything before the error arrives first
    endless = prefetch(iter(int, 1), depth=2)  # an infinite producer
    assert next(endless) == 0
    endless.close()  # the consumer stops: the background thread must end
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]
    assert [t.upper() for t in prefetch(["a", "b"], transform=str.upper)] == ["A", "B"]


def test_ordered_sink_writes_everything_in_order_and_raises_a_write_error():
    written = []
    with OrderedSink(lambda x: (time.sleep(0.002), written.append(x)), depth=2) as sink:
        for i in range(30):
            sink.put(i)
    assert written == list(range(30))

    def fail_at_5(x):
        if x == 5:
            raise OSError("disk full")
        written.append(x)

    written.clear()
    with pytest.raises(OSError, match="disk full"):
        with OrderedSink(fail_at_5, depth=2) as sink:
            for i in range(30):
                sink.put(i)
                time.sleep(0.001)
    assert written == [0, 1, 2, 3, 4]  # nothing after the failed item
    with pytest.raises(KeyError):  # an error in the caller's block stops the writer without the rest
        with OrderedSink(written.append, depth=50) as sink:
            sink.put("x")
            raise KeyError("stop")
    with pytest.raises(ValueError, match="depth"):
        next(prefetch([], depth=0))
    with pytest.raises(ValueError, match="depth"):
        OrderedSink(print, depth=0)


def test_an_early_stop_closes_the_producer_and_bad_depth_fails_at_the_call():
    closed = threading.Event()

    def frames():
        try:
            yield from range(1000)
        finally:
            closed.set()  # e.g. the video container's close

    stream = prefetch(frames(), depth=2)
    assert next(stream) == 0
    stream.close()
    assert closed.wait(5)
    with pytest.raises(ValueError, match="depth"):
        prefetch([], depth=0)  # no next() needed
