# syntax=docker/dockerfile:1
#
# ivh-monitor container image.
#
#   docker build -t ghcr.io/ivh-monitor/ivh-monitor:0.1.0 .
#   docker run --rm -p 9877:9877 --read-only --tmpfs /tmp \
#     -e IVH_MONITOR_APPKEY=... -e IVH_MONITOR_ACCESS_TOKEN_FILE=/run/secrets/ivh-token \
#     -v ivh-state:/var/lib/ivh-monitor ghcr.io/ivh-monitor/ivh-monitor:0.1.0
#
# The name and tag are the Helm chart's default image (values.yaml image.repository,
# Chart.yaml appVersion = VERSION below = monitor.__version__; tests/test_deploy.py
# keeps them equal), so a chart installed against a local build runs it.
#
# Two stages: the first builds wheels for ivh-monitor and every dependency, the
# second installs only those wheels into a virtualenv on a clean slim image, so
# no compiler, build backend or pip cache reaches the runtime layer.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is made of (see .dockerignore): source edits elsewhere
# (tests, charts, docs) don't invalidate this layer.
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN python -m pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
# Re-declared to use the global value in this stage (for the base.name label).
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="ivh-monitor" \
      org.opencontainers.image.description="Asset-monitoring daemon and Prometheus exporter for Tencent Cloud IVH hour packages, quotas, voices and avatar images" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# PYTHONDONTWRITEBYTECODE: the root filesystem may be read-only; bytecode is
# compiled once at install time below instead.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/ivh-monitor/bin:$PATH \
    IVH_MONITOR_LISTEN=0.0.0.0:9877 \
    IVH_MONITOR_LOG_FORMAT=json \
    IVH_MONITOR_STATE_DIR=/var/lib/ivh-monitor

# The wheels are bind-mounted from the build stage, never copied into a layer.
# --no-index: only the wheels built above, nothing fetched at this point.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/ivh-monitor \
 && /opt/ivh-monitor/bin/pip install --no-index --find-links=/wheels /wheels/ivh_monitor-*.whl \
 && /opt/ivh-monitor/bin/pip uninstall --yes pip \
 && mkdir -p /var/lib/ivh-monitor \
 && chown 65534:65534 /var/lib/ivh-monitor \
 && chmod 0750 /var/lib/ivh-monitor

# nobody:nogroup; the only writable place is the state volume (and /tmp if
# mounted as a tmpfs).
USER 65534:65534
WORKDIR /var/lib/ivh-monitor
VOLUME ["/var/lib/ivh-monitor"]
EXPOSE 9877

# Liveness only (/healthz); readiness (/readyz, first collection done) is for
# orchestrators. No curl in slim images: Python's urllib does the request and
# any non-2xx answer or connection error raises, i.e. exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('IVH_MONITOR_LISTEN', ':9877').rpartition(':')[2]; urllib.request.urlopen('http://127.0.0.1:' + port + '/healthz', timeout=4)"]

ENTRYPOINT ["ivh-monitor"]
CMD ["run"]
