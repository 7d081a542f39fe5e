"""Exceptions that carry their gRPC status.

Domain code raises these; one server interceptor turns them into the status
and message a client sees. Anything else becomes INTERNAL and is logged.
"""

from __future__ import annotations

import grpc


class PSError(Exception):
    """Base class: an error with a gRPC status code and a message for the caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(PSError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(PSError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(PSError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(PSError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Unavailable(PSError):
    code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(PSError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Internal(PSError):
    """The server failed (e.g. a disk write); the message says what it was doing."""

    code = grpc.StatusCode.INTERNAL
