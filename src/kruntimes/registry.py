"""The registry of runtime kinds that plugins add to (`kruntimes_register_runtimes`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from attrs import field, frozen

from kruntimes.model.converters import strings

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@frozen
class RuntimeKind:
    """A kind of Runtime Server: how to start it and what it speaks.

    `command` starts the server; `{socket}` in it is replaced by the socket
    path the agent listens for. `protocol` is `native` (push completion) or
    `grpc` (the `executor.v1.Runtime` protocol, polled).
    """

    name: str
    command: tuple[str, ...] = field(converter=strings)
    description: str = ""
    protocol: str = "native"
    default_capacity: Mapping[str, int] = field(factory=lambda: {"runs": 2})


class DuplicateRuntime(ValueError):
    pass


class RuntimeRegistry:
    """Runtime kinds by name; built-ins and plugins register the same way."""

    def __init__(self) -> None:
        self._kinds: dict[str, RuntimeKind] = {}

    def add(self, kind: RuntimeKind) -> None:
        if not _NAME.match(kind.name) or len(kind.name) > 63:
            raise ValueError(
                f"runtime kind name {kind.name!r}: must be 1-63 lowercase letters, digits or '-', "
                "starting and ending with a letter or digit"
            )
        if kind.protocol not in ("native", "grpc"):
            raise ValueError(f"runtime kind {kind.name}: protocol must be native or grpc")
        if not kind.command:
            raise ValueError(f"runtime kind {kind.name}: command must not be empty")
        if kind.name in self._kinds:
            raise DuplicateRuntime(f"runtime kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> RuntimeKind:
        try:
            return self._kinds[name]
        except KeyError:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise KeyError(f"unknown runtime kind {name!r} (registered: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[RuntimeKind]:
        return iter(sorted(self._kinds.values(), key=lambda k: k.name))

    def __len__(self) -> int:
        return len(self._kinds)
