"""Messages and method paths of the Primus AppMaster gRPC service, built at import.

Mirrors ``primus_am_service.proto`` (package ``primus``, service
``AppMasterService``) for the four calls training uses, so no generated code or
build step is needed. Field numbers follow that proto.
"""

from __future__ import annotations

from types import MappingProxyType

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "primus.AppMasterService"

_T = descriptor_pb2.FieldDescriptorProto
_MESSAGES = {
    "KillRequest": [("exit_code", 1, _T.TYPE_INT32), ("diagnose", 2, _T.TYPE_STRING),
                    ("graceful_shutdown_timeout_ms", 3, _T.TYPE_INT64)],
    "KillResponse": [],
    "SucceedRequest": [("graceful_shutdown_timeout_ms", 1, _T.TYPE_INT64)],
    "SucceedResponse": [],
    "CreateSavepointRequest": [("savepoint_dir", 1, _T.TYPE_STRING)],
    "CreateSavepointResponse": [("code", 1, _T.TYPE_INT32), ("message", 2, _T.TYPE_STRING),
                                ("savepoint_id", 3, _T.TYPE_STRING)],
    "CreateSavepointStatusRequest": [("savepoint_id", 1, _T.TYPE_STRING)],
    "CreateSavepointStatusResponse": [("create_savepoint_state", 1, _T.TYPE_ENUM),
                                      ("message", 2, _T.TYPE_STRING)],
}
_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")
_METHODS = {
    "kill": ("KillRequest", "KillResponse"),
    "succeed": ("SucceedRequest", "SucceedResponse"),
    "createSavepoint": ("CreateSavepointRequest", "CreateSavepointResponse"),
    "createSavepointStatus": ("CreateSavepointStatusRequest", "CreateSavepointStatusResponse"),
}


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="monolith_ps/primus_am_service.proto", package="primus", syntax="proto3")
    state = proto.enum_type.add(name="CreateSavepointState")
    for number, name in enumerate(_STATES):
        state.value.add(name=name, number=number)
    for message, fields in _MESSAGES.items():
        desc = proto.message_type.add(name=message)
        for name, number, kind in fields:
            field = desc.field.add(name=name, number=number, type=kind,
                                   label=_T.LABEL_OPTIONAL)
            if kind == _T.TYPE_ENUM:
                field.type_name = ".primus.CreateSavepointState"
    service = proto.service.add(name="AppMasterService")
    for method, (request, response) in _METHODS.items():
        service.method.add(name=method, input_type=f".primus.{request}",
                           output_type=f".primus.{response}")
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_build_file())


def _message(name: str):
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"primus.{name}"))


KillRequest = _message("KillRequest")
KillResponse = _message("KillResponse")
SucceedRequest = _message("SucceedRequest")
SucceedResponse = _message("SucceedResponse")
CreateSavepointRequest = _message("CreateSavepointRequest")
CreateSavepointResponse = _message("CreateSavepointResponse")
CreateSavepointStatusRequest = _message("CreateSavepointStatusRequest")
CreateSavepointStatusResponse = _message("CreateSavepointStatusResponse")

PENDING, RUNNING, SUCCEEDED, FAILED = range(len(_STATES))

METHODS = MappingProxyType(
    {method: (_message(req), _message(resp)) for method, (req, resp) in _METHODS.items()})
"""Method name -> (request class, response class), for clients and test servers."""


def method_path(method: str) -> str:
    return f"/{SERVICE}/{method}"
