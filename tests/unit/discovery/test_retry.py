import socket

import pytest

from discovery import retry_with_socket_error


def _flaky(failures: int, error: Exception):
    remaining = [failures]

    def call():
        if remaining[0] > 0:
            remaining[0] -= 1
            raise error
        return "ok"

    return call


def test_recovers_from_fewer_than_five_socket_errors():
    assert retry_with_socket_error(_flaky(4, ConnectionRefusedError()), max_backoff_s=0.001) == "ok"
    assert retry_with_socket_error(_flaky(2, TimeoutError()), max_backoff_s=0.001) == "ok"


def test_fifth_socket_error_reaches_the_caller():
    with pytest.raises(ConnectionResetError):
        retry_with_socket_error(_flaky(5, ConnectionResetError()), max_backoff_s=0.001)


def test_other_errors_are_not_retried():
    with pytest.raises(KeyError):
        retry_with_socket_error(_flaky(1, KeyError("x")), max_backoff_s=0.001)


def test_real_refused_connection():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        retry_with_socket_error(lambda: socket.create_connection(("127.0.0.1", port), 1),
                                max_tries=2, max_backoff_s=0.001)


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="max_tries"):
        retry_with_socket_error(lambda: 1, max_tries=0)
