"""Errors of the codec: every problem is a `FieldError`, reported all at once."""

from __future__ import annotations

from collections.abc import Iterable

from attrs import frozen


@frozen
class FieldError:
    """One problem at one wire path, e.g. `spec.env[3].name: duplicate name FOO`."""

    path: str
    """Wire (camelCase) path with dots and `[i]` / `[key]` indexes; empty for the document."""
    rule: str
    """What is wrong, in words a manifest author can act on."""

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}" if self.path else self.rule

    def under(self, head: str) -> FieldError:
        """This error seen from a parent: `under("spec")` turns `env[3]` into `spec.env[3]`."""
        if not self.path:
            return FieldError(head, self.rule)
        sep = "" if self.path[0] == "[" else "."
        return FieldError(f"{head}{sep}{self.path}", self.rule)


class ValidationError(ValueError):
    """The only exception decoding raises; `errors` holds every problem found."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class Invalid(Exception):
    """Internal: raised by decoding hooks, with paths relative to the value they were given."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.errors = errors

    @classmethod
    def at(cls, path: str, rule: str) -> Invalid:
        return cls([FieldError(path, rule)])
