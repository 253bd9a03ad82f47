FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ONCALL_DATA_DIR=/var/lib/oncall
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
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
CMD ["gunicorn", "oncall.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
