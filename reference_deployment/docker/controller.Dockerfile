# syntax=docker/dockerfile:1
# The kruntimes controller: scheduler, Runtime controller, stale-run reaper and completed-Run GC.
# Build from the repository root (README.md beside this file):
#   docker build -f reference_deployment/docker/controller.Dockerfile -t kruntimes/controller:0.1.0 .

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
# metrics, health (/healthz, /readyz)
EXPOSE 8080 8081
ENTRYPOINT ["python", "/app/controller.py"]
CMD ["--metrics-bind-address", ":8080", "--health-probe-bind-address", ":8081"]
