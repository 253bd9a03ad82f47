"""Run web, worker and scheduler (and the optional listeners) until Ctrl-C.

Used by ``make run``. Every child runs in its own process group and is told to
die with this process, so Ctrl-C, ``kill`` or a crashed child stops all of them:
nothing is left running.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from oncall import demo

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    os.setpgrp()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = "Migrate, load demo data into an empty database, then run all processes."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-migrate", action="store_true")

    def processes(self) -> dict[str, list[str]]:
        python = sys.executable
        bind = f"{settings.HOST}:{settings.PORT}"
        procs = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "--config",
                "python:oncall.gunicorn_config",
                "oncall.wsgi",
                "--bind",
                bind,
                "--workers",
                str(settings.WEB_CONCURRENCY),
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "oncall",
                "worker",
                "--loglevel",
                "info",
                "--queues",
                "default,escalation,notify",
                "--concurrency",
                "2",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "oncall",
                "beat",
                "--loglevel",
                "info",
                "--schedule",
                str(settings.DATA_DIR / "celerybeat-schedule"),
            ],
        }
        commands = get_commands()
        manage = [python, str(settings.BASE_DIR / "manage.py")]
        if settings.MATRIX_HOMESERVER and "matrix_listen" in commands:
            procs["matrix"] = [*manage, "matrix_listen"]
        if settings.ZUUL_MQTT_URL and "zuul_mqtt" in commands:
            procs["zuul-mqtt"] = [*manage, "zuul_mqtt"]
        return procs

    def handle(self, *args: Any, no_migrate: bool, **options: Any) -> None:
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        login = demo.load_if_empty() if settings.ONCALL_DEMO else None

        children: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, argv in self.processes().items():
            children[name] = subprocess.Popen(argv, preexec_fn=_die_with_parent)  # noqa: S603, PLW1509

        url = f"http://{settings.HOST}:{settings.PORT}/"
        self.stdout.write(f"\noncall runs at {url} ({', '.join(children)}); Ctrl-C stops it.")
        if login:
            self.stdout.write(
                f"Log in at {url} (the admin: {url}admin/) as {login[0]!r} "
                f"with password {login[1]!r}."
            )
        else:
            self.stdout.write(
                "Log in with an account made by: .venv/bin/python manage.py createsuperuser"
            )
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping.")
                    exit_code = 1
                    stopping = True
            time.sleep(0.5)
        self.shutdown(children)
        sys.exit(exit_code)

    def shutdown(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for child in children.values():
            if child.poll() is None:
                # The leader only: gunicorn and Celery stop their own workers gracefully.
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.stdout.write("stopped.")
