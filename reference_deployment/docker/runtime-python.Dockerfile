# syntax=docker/dockerfile:1
# The built-in python Runtime Server (a warm interpreter), listening on /run/kruntimes/runtime.sock.
# Build from the repository root (README.md beside this file):
#   docker build -f reference_deployment/docker/runtime-python.Dockerfile -t kruntimes/runtime-python:0.1.0 .
#
# Concurrency comes from env KRUNTIMES_CAPACITY (default 8), modules to pre-import from env
# KRUNTIMES_PRELOAD (comma-separated, default none). Exec-form ENTRYPOINTs expand no variables
# and this image uses no shell for that, so the entry point is a one-line Python launcher that
# reads them and calls the server's main(); arguments given to `docker run` are appended and
# win. In Kubernetes the kruntimes-runtimes chart sets command and args itself
# ($(KRUNTIMES_CAPACITY) is expanded by the kubelet), so the launcher is only used outside it.
# Add the libraries your Runs import in an image built FROM this one.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KRUNTIMES_CAPACITY=8 \
    KRUNTIMES_PRELOAD=""
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels kruntimes
RUN groupadd --gid 65532 kruntimes \
    && useradd --uid 65532 --gid 65532 --home-dir /home/kruntimes --create-home \
        --shell /usr/sbin/nologin kruntimes \
    && install -d -o 65532 -g 65532 /run/kruntimes /workspace
WORKDIR /workspace
USER 65532:65532
ENTRYPOINT ["python", "-c", "import os, sys; from kruntimes.runtimes.python_server import main; main(['--socket', '/run/kruntimes/runtime.sock', '--capacity', os.environ.get('KRUNTIMES_CAPACITY', '8'), '--preload', os.environ.get('KRUNTIMES_PRELOAD', ''), *sys.argv[1:]])"]
