"""A small `executor.v1.Runtime` server that knows nothing of kruntimes.

It stands for a custom Runtime Server written for the Go project: it uses
only code that `grpc_tools.protoc` generated from
`proto/executor/v1/executor.proto` (into GEN_DIR, at test time) and grpcio.
Execute runs `args` as argv in `working_dir` with `env` added; there is no
push, so clients must poll Status.

Usage: python independent_grpc_server.py GEN_DIR SOCKET_PATH READY_FD
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent import futures

import grpc

sys.path.insert(0, sys.argv[1])
from executor.v1 import executor_pb2 as pb
from executor.v1 import executor_pb2_grpc as pb_grpc


class Runtime(pb_grpc.RuntimeServicer):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, dict] = {}

    def Execute(self, request, context):
        with self.lock:
            if request.id not in self.runs:
                entry = {"state": pb.EXECUTION_STATE_RUNNING, "code": 0, "out": "", "err": ""}
                self.runs[request.id] = entry
                try:
                    entry["proc"] = subprocess.Popen(
                        list(request.args),
                        cwd=request.working_dir or None,
                        env={**os.environ, **request.env},
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                        start_new_session=True,
                    )
                except OSError as exc:
                    entry.update(state=pb.EXECUTION_STATE_FAILED, code=127, err=str(exc))
                else:
                    threading.Thread(target=self._reap, args=(entry,), daemon=True).start()
        return pb.ExecuteResponse(id=request.id)

    def _reap(self, entry: dict) -> None:
        out, err = entry["proc"].communicate()
        code = entry["proc"].returncode
        with self.lock:
            entry.update(
                out=out,
                err=err,
                code=code,
                state=pb.EXECUTION_STATE_SUCCEEDED if code == 0 else pb.EXECUTION_STATE_FAILED,
            )

    def _status(self, id: str, entry: dict) -> pb.StatusResponse:
        return pb.StatusResponse(
            id=id,
            state=entry["state"],
            exit_code=entry["code"],
            stdout=entry["out"],
            stderr=entry["err"],
            error_message="" if entry["code"] == 0 else f"exit {entry['code']}",
        )

    def Status(self, request, context):
        with self.lock:
            entry = self.runs.get(request.id)
            if entry is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"unknown execution {request.id}")
            return self._status(request.id, entry)

    def List(self, request, context):
        with self.lock:
            return pb.ListResponse(entries=[self._status(i, e) for i, e in self.runs.items()])

    def Cancel(self, request, context):
        with self.lock:
            entry = self.runs.get(request.id)
            if entry is not None and entry["state"] == pb.EXECUTION_STATE_RUNNING:
                os.killpg(entry["proc"].pid, signal.SIGTERM)
        return pb.CancelResponse()

    def Forget(self, request, context):
        with self.lock:
            entry = self.runs.get(request.id)
            if entry is not None and entry["state"] == pb.EXECUTION_STATE_RUNNING:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "running: cancel first")
            self.runs.pop(request.id, None)
        return pb.ForgetResponse()

    def Health(self, request, context):
        return pb.HealthResponse(healthy=True, message="independent server ok")


def main() -> None:
    socket_path, ready_fd = sys.argv[2], int(sys.argv[3])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_RuntimeServicer_to_server(Runtime(), server)
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
