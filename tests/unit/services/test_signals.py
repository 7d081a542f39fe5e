"""SIGUSR1 prints every thread's stack and chains the handler that was there before."""

import io
import signal
import threading

from services.signals import add_stack_dump_handler


def test_stack_dump_chains_the_previous_handler():
    original = signal.getsignal(signal.SIGUSR1)
    seen = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(signum))
    first, second = io.StringIO(), io.StringIO()
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, name="waiting-helper")
    helper.start()
    try:
        add_stack_dump_handler(stream=first)
        add_stack_dump_handler(stream=second)
        signal.raise_signal(signal.SIGUSR1)
    finally:
        stop.set()
        helper.join()
        signal.signal(signal.SIGUSR1, original)
    assert seen == [signal.SIGUSR1]
    for out in (first, second):
        text = out.getvalue()
        assert "stack dump on signal" in text
        assert "--- thread MainThread" in text and "--- thread waiting-helper" in text
        assert "test_stack_dump_chains_the_previous_handler" in text
