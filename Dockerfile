# incident-bot: the bot with SQLite by default; set DATABASE_URL for PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite+aiosqlite:////app/data/incident-bot.sqlite3 \
    INCIDENT_BOT_CONFIG=/app/config.toml

# A font with Chinese glyphs for the statistics charts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY messages ./messages
COPY emulator ./emulator
RUN pip install . \
    && useradd --system --home /app bot \
    && mkdir -p /app/data \
    && chown bot /app/data
COPY config.example.toml ./config.example.toml

USER bot
VOLUME ["/app/data"]
# Webhook mode listens here when WEBHOOK_URL is set; long polling needs no port.
EXPOSE 8443
CMD ["incident-bot", "run"]
