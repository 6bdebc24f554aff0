# syntax=docker/dockerfile:1
# The built-in bash Runtime Server, listening on /run/kruntimes/runtime.sock.
# Build from the repository root (README.md beside this file):
#   docker build -f reference_deployment/docker/runtime-bash.Dockerfile -t kruntimes/runtime-bash:0.1.0 .
#
# Concurrency comes from env KRUNTIMES_CAPACITY (default 8). Exec-form ENTRYPOINTs expand no
# variables and this image uses no shell for that, so the entry point is a one-line Python
# launcher that reads the variable and calls the server's main(); arguments given to
# `docker run` are appended and win (argparse keeps the last --capacity). In Kubernetes the
# kruntimes-runtimes chart sets command and args itself ($(KRUNTIMES_CAPACITY) is expanded
# by the kubelet), so the launcher is only used outside it.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KRUNTIMES_CAPACITY=8
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels kruntimes
RUN groupadd --gid 65532 kruntimes \
    && useradd --uid 65532 --gid 65532 --home-dir /home/kruntimes --create-home \
        --shell /usr/sbin/nologin kruntimes \
    && install -d -o 65532 -g 65532 /run/kruntimes /workspace
WORKDIR /workspace
USER 65532:65532
ENTRYPOINT ["python", "-c", "import os, sys; from kruntimes.runtimes.bash_server import main; main(['--socket', '/run/kruntimes/runtime.sock', '--capacity', os.environ.get('KRUNTIMES_CAPACITY', '8'), *sys.argv[1:]])"]
