# syntax=docker/dockerfile:1
# The kruntimes agent: the sidecar the controller injects into every Runtime Pod (--agent-image).
# It claims the Runs assigned to its Pod and executes them through the Pod's Runtime Server.
# Build from the repository root (README.md beside this file):
#   docker build -f reference_deployment/docker/agent.Dockerfile -t kruntimes/agent:0.1.0 .

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Wheels for kruntimes and all it needs, so the final stage installs offline and has no build
# tools. The Kubernetes client is named here until pyproject.toml declares it.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . kubernetes

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels kruntimes kubernetes
RUN groupadd --gid 65532 kruntimes \
    && useradd --uid 65532 --gid 65532 --home-dir /home/kruntimes --create-home \
        --shell /usr/sbin/nologin kruntimes
COPY reference_deployment/entrypoints/*.py /app/
WORKDIR /app
USER 65532:65532
# The controller sets HOSTNAME, POD_NAMESPACE, KRUNTIMES_RUNTIME_SOCKET (or
# KRUNTIMES_RUNTIME_GRPC) and KRUNTIMES_WORK_ROOT when it injects the sidecar.
# metrics, health
EXPOSE 9090 8081
ENTRYPOINT ["python", "/app/agent.py"]
