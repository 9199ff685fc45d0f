# Rankroom: slim image, non-root, migrations then gunicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RANKROOM_INSTANCE_PATH=/data \
    RANKROOM_PROMPTS_DIR=/app/prompts

RUN useradd --create-home --uid 10001 rankroom && mkdir /data && chown rankroom /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY prompts ./prompts
RUN pip install .

USER rankroom
VOLUME ["/data"]
EXPOSE 8000
# `rankroom serve` runs gunicorn with the app built once before the workers fork
# (RANKROOM_WORKERS, default one per core).
CMD ["sh", "-c", "rankroom db upgrade && exec rankroom serve --host 0.0.0.0 --port 8000"]
