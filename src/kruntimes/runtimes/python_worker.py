"""One warm python worker process: runs one Run at a time in fresh globals, then tidies up.

The worker is forked from the python server after the pool's modules were
imported, so a Run starts in about 0.1 ms instead of 13-30 ms for a cold
interpreter. What a Run changes in the process (cwd, environment, sys.argv,
sys.path, sys.stdout, modules imported from its working directory) is put
back afterwards; module-level state of shared modules is not, which is why
built-in runtimes are for trusted code only.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import json
import linecache
import os
import socket
import sys
import traceback
from types import CodeType, TracebackType
from typing import Any, NoReturn, TextIO

from kruntimes.framing import encode_frame, recv_frame
from kruntimes.runtimes.process import EXIT_BAD_REQUEST, EXIT_NOT_FOUND

_SNIPPET_NAME = "<run>"


class _RunFailed(Exception):
    """A failure whose message is the whole story (no traceback worth printing)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@functools.lru_cache(maxsize=64)
def _compile(source: str, filename: str) -> CodeType:
    return compile(source, filename, "exec")


def _fresh_globals(name: str, **extra: Any) -> dict[str, Any]:
    return {"__name__": name, "__builtins__": builtins, "__doc__": None, **extra}


def _resolve(handler: str) -> tuple[str, str]:
    """`module:function` (or `module.function`); the function part may be dotted."""
    module, sep, function = handler.partition(":")
    if not sep:
        module, _, function = handler.rpartition(".")
    if not module or not function:
        raise _RunFailed(f"handler must look like module:function, got {handler!r}")
    return module, function


def _lookup(namespace: Any, dotted: str, where: str) -> Any:
    target = namespace
    for part in dotted.split("."):
        try:
            target = target[part] if isinstance(target, dict) else getattr(target, part)
        except (KeyError, AttributeError):
            raise _RunFailed(f"{where} has no {dotted!r}") from None
    if not callable(target):
        raise _RunFailed(f"{where}.{dotted} is not callable")
    return target


class Worker:
    """Serves Runs sent by the python server over `sock` until the socket closes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.home = os.getcwd()
        self.base_env = dict(os.environ)
        self._base_env_data = dict(_environ_data())
        self.stdout: TextIO = open(  # noqa: SIM115 - lives as long as the worker
            1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False
        )
        self.stderr: TextIO = open(  # noqa: SIM115
            2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False
        )
        sys.stdout, sys.stderr = self.stdout, self.stderr

    def serve(self) -> NoReturn:
        self.sock.sendall(encode_frame({"ready": True}))
        while True:
            request = recv_frame(self.sock)
            if request is None:
                os._exit(0)
            self.sock.sendall(encode_frame(self.run(request)))

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request; the reply carries exit_code, error_message and result."""
        argv, path, modules_before = sys.argv, sys.path[:], len(sys.modules)
        working_dir = request.get("working_dir") or ""
        env: dict[str, str] = request.get("env") or {}
        os.environ.update(env)
        try:
            if working_dir:
                if not os.path.isdir(working_dir):
                    raise _RunFailed(f"working_dir not found: {working_dir}", EXIT_NOT_FOUND)
                os.chdir(working_dir)
                sys.path.insert(0, working_dir)
            result = self._execute(request, working_dir or self.home)
            reply: dict[str, Any] = {"exit_code": 0, "error_message": "", "result": result}
        except SystemExit as exc:
            reply = self._exit_reply(exc)
        except _RunFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            reply = {"exit_code": exc.exit_code, "error_message": str(exc), "result": None}
        except BaseException as exc:  # any failure of user code is the Run's
            reply = self._exception_reply(exc, request.get("source"))
        finally:
            self._restore(argv, path, modules_before, working_dir)
            self._restore_env(env)
        return reply

    def _execute(self, request: dict[str, Any], cwd: str) -> str | None:
        source, handler = request.get("source"), request.get("handler") or ""
        entrypoint = request.get("entrypoint") or ""
        args = list(request.get("args") or [])
        if source is not None:
            sys.argv = ["-c", *args]
            name = "__kruntimes_run__" if handler else "__main__"
            namespace = _fresh_globals(name)
            exec(_compile(source, _SNIPPET_NAME), namespace)
            if not handler:
                return None
            return self._call(_lookup(namespace, handler.rpartition(":")[2], "source"), request)
        if handler:
            module_name, function = _resolve(handler)
            module = importlib.import_module(module_name)
            return self._call(_lookup(module, function, module_name), request)
        if entrypoint:
            if not entrypoint.endswith(".py"):
                raise _RunFailed(
                    f"the python runtime runs *.py entrypoints, got {entrypoint!r}",
                    EXIT_BAD_REQUEST,
                )
            script = os.path.join(cwd, entrypoint)
            if not os.path.isfile(script):
                raise _RunFailed(f"entrypoint not found: {entrypoint}", EXIT_NOT_FOUND)
            script = os.path.abspath(script)
            with open(script, "rb") as file:
                code = compile(file.read(), script, "exec")
            sys.argv = [entrypoint, *args]
            sys.path.insert(0, os.path.dirname(script))
            exec(code, _fresh_globals("__main__", __file__=script, __cached__=None))
            return None
        raise _RunFailed("nothing to run: no source, handler or entrypoint", EXIT_BAD_REQUEST)

    @staticmethod
    def _call(function: Any, request: dict[str, Any]) -> str:
        text = request.get("input")
        try:
            value = None if text is None else json.loads(text)
        except ValueError as exc:
            raise _RunFailed(f"input is not valid JSON: {exc}") from None
        result = function(value)
        try:
            return json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise _RunFailed(f"result is not JSON-serialisable: {exc}") from None

    @staticmethod
    def _exit_reply(exc: SystemExit) -> dict[str, Any]:
        code = exc.code
        if code is None or isinstance(code, int):
            status = code or 0
            message = f"SystemExit: {status}" if status else ""
            return {"exit_code": status, "error_message": message, "result": None}
        print(code, file=sys.stderr)
        return {"exit_code": 1, "error_message": f"SystemExit: {code}", "result": None}

    @staticmethod
    def _exception_reply(exc: BaseException, source: str | None) -> dict[str, Any]:
        if source is not None:  # lets the traceback quote the snippet's lines
            linecache.cache[_SNIPPET_NAME] = (len(source), None, source.splitlines(True), "")
        traceback.print_exception(type(exc), exc, _user_frames(exc.__traceback__))
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"exit_code": 1, "error_message": last, "result": None}

    def _restore(self, argv: list[str], path: list[str], modules_before: int, cwd: str) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        sys.stdout, sys.stderr = self.stdout, self.stderr
        sys.argv = argv
        sys.path[:] = path
        if cwd or os.getcwd() != self.home:
            os.chdir(self.home)
        if len(sys.modules) != modules_before:
            _forget_modules_under(cwd, modules_before)

    def _restore_env(self, env: dict[str, str]) -> None:
        """Undo the request's variables one by one; anything else the Run changed, wholesale."""
        for key in env:
            value = self.base_env.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if _environ_data() != self._base_env_data:
            os.environ.clear()
            os.environ.update(self.base_env)


def _environ_data() -> dict[bytes, bytes]:
    """`os.environ`'s encoded mapping: comparing it is ~30 times cheaper than the str view."""
    data: dict[bytes, bytes] = vars(os.environ)["_data"]
    return data


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Skip the worker's own frames so the traceback starts at the Run's code."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _forget_modules_under(directory: str, first_new: int) -> None:
    """Modules a Run imported from its own working directory are its code, not the pool's.

    Only modules imported during the Run (`sys.modules` keeps insertion
    order) are candidates, so a working directory of `/` drops nothing shared.
    """
    if not directory:
        return
    prefix = os.path.join(os.path.abspath(directory), "")
    for name, module in list(sys.modules.items())[first_new:]:
        origin = getattr(module, "__file__", None)
        if isinstance(origin, str) and os.path.abspath(origin).startswith(prefix):
            del sys.modules[name]
