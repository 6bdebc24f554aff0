"""The `executor.v1` messages, built at import time from a descriptor written out in Python.

No generated code is checked in: the descriptor below mirrors
`proto/executor/v1/executor.proto` field for field (a test compares it with
what `protoc` makes of that file), and `protobuf` turns it into message
classes. It lives in a private descriptor pool, so a process that also
imports generated `executor_pb2` code gets no duplicate-symbol error.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "executor.v1"
SERVICE = f"{PACKAGE}.Runtime"

_F = descriptor_pb2.FieldDescriptorProto
_STRING, _INT64, _INT32, _BOOL = _F.TYPE_STRING, _F.TYPE_INT64, _F.TYPE_INT32, _F.TYPE_BOOL
_ENUM, _MESSAGE = _F.TYPE_ENUM, _F.TYPE_MESSAGE

_REPEATED = "repeated "

_MESSAGES: dict[str, list[tuple[str, int, int, str]]] = {
    # message: [(field, number, type, type name)]; a type name may start with "repeated "
    "ExecuteRequest": [
        ("id", 1, _STRING, ""),
        ("args", 2, _STRING, "repeated "),
        ("env", 3, _MESSAGE, "repeated .executor.v1.ExecuteRequest.EnvEntry"),
        ("timeout_seconds", 4, _INT64, ""),
        ("working_dir", 5, _STRING, ""),
        ("entrypoint", 6, _STRING, ""),
        ("handler", 7, _STRING, ""),
    ],
    "ExecuteResponse": [("id", 1, _STRING, "")],
    "StatusRequest": [("id", 1, _STRING, "")],
    "StatusResponse": [
        ("id", 1, _STRING, ""),
        ("state", 2, _ENUM, ".executor.v1.ExecutionState"),
        ("exit_code", 3, _INT32, ""),
        ("stdout", 4, _STRING, ""),
        ("stderr", 5, _STRING, ""),
        ("error_message", 6, _STRING, ""),
    ],
    "ListRequest": [],
    "ListResponse": [("entries", 1, _MESSAGE, "repeated .executor.v1.StatusResponse")],
    "CancelRequest": [("id", 1, _STRING, "")],
    "CancelResponse": [],
    "ForgetRequest": [("id", 1, _STRING, "")],
    "ForgetResponse": [],
    "HealthRequest": [],
    "HealthResponse": [("healthy", 1, _BOOL, ""), ("message", 2, _STRING, "")],
}

METHODS: dict[str, tuple[str, str]] = {
    "Execute": ("ExecuteRequest", "ExecuteResponse"),
    "Status": ("StatusRequest", "StatusResponse"),
    "List": ("ListRequest", "ListResponse"),
    "Cancel": ("CancelRequest", "CancelResponse"),
    "Forget": ("ForgetRequest", "ForgetResponse"),
    "Health": ("HealthRequest", "HealthResponse"),
}
"""RPC name -> (request message, response message); paths are `/executor.v1.Runtime/<name>`."""

_STATES = ("UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED")


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """`executor/v1/executor.proto` as a descriptor."""
    file = descriptor_pb2.FileDescriptorProto(
        name="executor/v1/executor.proto", package=PACKAGE, syntax="proto3"
    )
    enum = file.enum_type.add(name="ExecutionState")
    for number, state in enumerate(_STATES):
        enum.value.add(name=f"EXECUTION_STATE_{state}", number=number)
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, spec in fields:
            type_name = spec.removeprefix(_REPEATED)
            field = message.field.add(
                name=field_name,
                number=number,
                type=kind,
                label=_F.LABEL_REPEATED if type_name != spec else _F.LABEL_OPTIONAL,
            )
            if type_name:
                field.type_name = type_name
        if name == "ExecuteRequest":
            entry = message.nested_type.add(name="EnvEntry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=_STRING, label=_F.LABEL_OPTIONAL)
            entry.field.add(name="value", number=2, type=_STRING, label=_F.LABEL_OPTIONAL)
    service = file.service.add(name="Runtime")
    for method, (request, response) in METHODS.items():
        service.method.add(
            name=method,
            input_type=f".{PACKAGE}.{request}",
            output_type=f".{PACKAGE}.{response}",
        )
    return file


def _message_classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_descriptor())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in _MESSAGES
    }


MESSAGES: dict[str, Any] = _message_classes()
"""Message name -> class (typed `Any`: fields are set and read by name)."""
