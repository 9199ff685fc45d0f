# Rankroom: slim image, non-root, migrations then gunicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RANKROOM_INSTANCE_PATH=/data \
    RANKROOM_PROMPTS_DIR=/app/prompts \
    RANKROOM_WORKERS=2

RUN useradd --create-home --uid 10001 rankroom && mkdir /data && chown rankroom /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY prompts ./prompts
RUN pip install .

USER rankroom
VOLUME ["/data"]
EXPOSE 8000
CMD ["sh", "-c", "rankroom db upgrade && exec gunicorn --bind 0.0.0.0:8000 --workers ${RANKROOM_WORKERS} --access-logfile - 'service:create_app()'"]
