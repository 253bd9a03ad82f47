"""gunicorn's settings (``gunicorn --config python:oncall.gunicorn_config``).

``WEB_CONCURRENCY`` processes (a ``--workers`` option wins) of ``WEB_THREADS`` threads
each (gunicorn's ``gthread`` worker): a request waits on PostgreSQL, Redis or a slow
client far longer than it runs Python, so a few threads per process keep both cores
busy where one request per process would queue the others (issue 16). Every thread has
its own database connection, kept for ``DATABASE_CONN_MAX_AGE``.

gunicorn's own lines (start-up, worker deaths, the access log) follow ``LOG_LEVEL``
and ``LOG_FORMAT`` like the application's. A bad value stops gunicorn naming the variable.
"""

from oncall.env import Env
from oncall.logs import from_env, gunicorn_logging

env = Env()
workers = env.integer("WEB_CONCURRENCY", 2, minimum=1)
threads = env.integer("WEB_THREADS", 8, minimum=1)
worker_class = "gthread"
# Idle keep-alive connections stay open longer than clients keep them (httpx 5 s,
# proxies ~60 s): a server that closes first races the client's next request on it,
# which then fails without an answer.
keepalive = 75
logconfig_dict = gunicorn_logging(*from_env(env))
