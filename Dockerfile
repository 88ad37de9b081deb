# syntax=docker/dockerfile:1
# poller as a container: `docker build -t poller .`, then mount a folder holding config.yaml
# (start from config/poller.example.yaml) and the handler code:
#   docker run -v "$PWD/my-poller:/etc/poller:ro" -p 9102:9102 poller
# The config's http.listen must be 0.0.0.0:9102 for the published port to reach /metrics
# (the default, 127.0.0.1:9102, serves the HEALTHCHECK below but nothing outside the container).
# Handler modules next to config.yaml import as is (the working directory is /etc/poller);
# elsewhere, point functions.<name>.code_uri at them.

# --- builder: install poller (no extras) into a self-contained virtual environment ---
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY poller ./poller
RUN /opt/venv/bin/pip install .

# --- runtime: the same base image, the venv, and an unprivileged user ---
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin poller \
    && mkdir -p /etc/poller
COPY --from=builder /opt/venv /opt/venv
USER poller
WORKDIR /etc/poller
EXPOSE 9102
# /healthz answers while the daemon runs; assumes the config keeps port 9102.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9102/healthz', timeout=4)"]
# Exec form: poller is PID 1 and receives SIGTERM itself, draining in-flight batches for up to
# shutdown_timeout (30 s by default), so give `docker stop` longer than that: docker stop -t 40.
ENTRYPOINT ["poller"]
CMD ["run", "-c", "/etc/poller/config.yaml"]
