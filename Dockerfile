# An exact version, not a floating tag, so a rebuild gets the same Python and Debian.
# Not pinned by digest: bump the version deliberately (and add @sha256:… if your
# registry policy wants it).
FROM python:3.12.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ONCALL_DATA_DIR=/var/lib/oncall
WORKDIR /app
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY oncall oncall
COPY rotations rotations
COPY escalation escalation
COPY manage.py ./
RUN pip install --no-cache-dir -c constraints.txt . \
 && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
 && useradd --system --home /var/lib/oncall oncall \
 && mkdir -p /var/lib/oncall && chown oncall /var/lib/oncall
USER oncall
EXPOSE 8000
# For the web command below; docker-compose.yml turns it off for worker, beat and the
# listeners, which run the same image without an HTTP server.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-m", "oncall.healthcheck"]
CMD ["gunicorn", "--config", "python:oncall.gunicorn_config", "oncall.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
