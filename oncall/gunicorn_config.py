"""gunicorn's settings (``gunicorn --config python:oncall.gunicorn_config``).

``WEB_CONCURRENCY`` processes (a ``--workers`` option wins), and gunicorn's own lines
(start-up, worker deaths, the access log) follow ``LOG_LEVEL`` and ``LOG_FORMAT``
like the application's. A bad value stops gunicorn naming the variable.
"""

from oncall.env import Env
from oncall.logs import from_env, gunicorn_logging

env = Env()
workers = env.integer("WEB_CONCURRENCY", 2, minimum=1)
logconfig_dict = gunicorn_logging(*from_env(env))
