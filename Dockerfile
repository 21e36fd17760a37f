# tuneforge model server: `tuneforge serve` on port 8000 over a registry volume (+ PostgreSQL for metadata).
#   docker build -t tuneforge .
#   docker run -p 8000:8000 -v $PWD/registry:/registry tuneforge        # SQLite registry inside the volume
# The container keeps no state: models live in the registry volume, metadata and the request log in the
# registry database (TUNEFORGE_REGISTRY_DB=postgresql://... when several replicas share them).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    TUNEFORGE_CACHE=/home/tuneforge/.cache/tuneforge TUNEFORGE_REGISTRY=/registry

WORKDIR /app
# torch first and pinned, as in scripts/setup.sh: its CPU wheel; anything that pulls an unpinned torch
# first gets a multi-GB CUDA build. Then the pinned requirements (they name the same torch, a no-op).
RUN pip install torch==2.13.0
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY pyproject.toml ./
COPY tuneforge ./tuneforge
RUN pip install --no-deps . \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin tuneforge \
    && mkdir -p /registry && chown tuneforge:tuneforge /registry

# Non-root: the server needs to write only the registry volume and its own cache.
USER 10001
EXPOSE 8000
VOLUME ["/registry"]
# Liveness only (the process answers); readiness (models loaded) is /readyz, which orchestrators probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# On SIGTERM uvicorn stops accepting, answers the requests in flight, then stops the batchers.
CMD ["tuneforge", "serve", "--host", "0.0.0.0", "--port", "8000", "--log-level", "info"]
