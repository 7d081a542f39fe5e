"""Retry a blocking call that failed on the network (socket errors), with randomized backoff."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_MAX_TRIES = 5
DEFAULT_MAX_BACKOFF_S = 5.0


def retry_with_socket_error(fn: Callable[[], T], *, max_tries: int = DEFAULT_MAX_TRIES,
                            max_backoff_s: float = DEFAULT_MAX_BACKOFF_S) -> T:
    """Calls ``fn()`` up to ``max_tries`` times while it raises ``OSError``.

    ``OSError`` covers ``socket.error``, timeouts and the ``requests`` connection
    errors. Each wait is uniform in [0, ``max_backoff_s``] so clients that failed
    together do not retry together. Other exceptions, and the last ``OSError``,
    reach the caller unchanged.
    """
    if max_tries < 1:
        raise ValueError(f"max_tries must be >= 1, got {max_tries}")
    if max_backoff_s < 0:
        raise ValueError(f"max_backoff_s must be >= 0, got {max_backoff_s}")
    for attempt in range(1, max_tries + 1):
        try:
            return fn()
        except OSError as err:
            if attempt == max_tries:
                raise
            wait_s = random.uniform(0.0, max_backoff_s)
            log.warning("socket error on try %d of %d (%s); retrying in %.2f s",
                        attempt, max_tries, err, wait_s)
            time.sleep(wait_s)
    raise AssertionError("unreachable")
