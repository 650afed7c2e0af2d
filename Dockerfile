# The production image: web (gunicorn), worker and beat all run from it;
# docker-compose.yml picks the process with `command`.
FROM python:3.11-slim

# DJANGO_ENV is baked in so the image can never fall back to the development
# defaults (SQLite, DEBUG, a public SECRET_KEY) when run without configuration.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_ENV=production

WORKDIR /app

RUN groupadd --system --gid 10001 clinic \
    && useradd --system --uid 10001 --gid clinic --no-create-home --home-dir /app clinic

# Dependencies first, so a code change does not reinstall them. Only the runtime lock
# (no honcho, no test tools), every package checked against its hash.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY . .

# Production settings refuse to load without these; collectstatic touches
# neither the database, the broker nor Twilio, so throwaway values scoped to
# this one command are enough. Real values come from the environment at run time.
RUN SECRET_KEY=collectstatic-at-build-time-only-never-used-to-serve-requests \
    ALLOWED_HOSTS=build.invalid \
    DATABASE_URL=postgres://build:build@build.invalid:5432/build \
    REDIS_URL=redis://build.invalid:6379/0 \
    EMAIL_URL=consolemail:// \
    SMS_BACKEND=twilio \
    TWILIO_ACCOUNT_SID=ACbuild \
    TWILIO_AUTH_TOKEN=build \
    TWILIO_FROM_NUMBER=+15005550006 \
    CLINIC_CALLER_ID=+15005550006 \
    PUBLIC_BASE_URL=https://build.invalid \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtdGltZS1vbmx5LW5ldmVyLWVuY3J5cHRzISE= \
    LOOKUP_HASH_KEY=build-time-only \
    python manage.py collectstatic --noinput

# The code and collected static files stay root-owned: the app only reads them.
USER clinic

EXPOSE 8000

# A shell, so GUNICORN_WORKERS is read at start; exec, so gunicorn is PID 1 and gets SIGTERM.
# Access lines go through gunicorn.conf.py's logger (read from /app): routes, no paths or IPs.
CMD ["sh", "-c", "exec gunicorn config.wsgi:application --bind 0.0.0.0:8000 --workers \"${GUNICORN_WORKERS:-3}\" --access-logfile -"]
