"""Run web, worker and scheduler (and the optional listeners) until Ctrl-C.

Used by ``make run``. A child that exits is started again after a backoff (1 s,
doubling up to 30 s; back to 1 s once it ran for a minute), and the log says so:
a worker that dies while Redis restarts must not take the web server down with it.
Only Ctrl-C or SIGTERM stops everything. Every child runs in its own process group
and is told to die with this process, so nothing is left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from oncall import demo

PR_SET_PDEATHSIG = 1
BACKOFF_SECONDS = (1, 2, 4, 8, 16, 30)
STABLE_SECONDS = 60  # a child that ran this long restarts after the first backoff again


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
        argvs = self.processes()
        for name in argvs:
            children[name] = self.start(name, argvs[name])

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
        self.supervise(children, argvs, lambda: stopping)
        self.shutdown(children)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(argv, preexec_fn=_die_with_parent)  # noqa: S603, PLW1509
        self.stdout.write(f"{name} started, pid {child.pid}")
        return child

    def supervise(
        self,
        children: dict[str, subprocess.Popen[bytes]],
        argvs: dict[str, list[str]],
        stopping: Callable[[], bool],
    ) -> None:
        """Restart children that exit, with a backoff per child, until ``stopping()``."""
        started = {name: time.monotonic() for name in children}
        failures = dict.fromkeys(children, 0)
        restart_at: dict[str, float] = {}
        while not stopping():
            now = time.monotonic()
            for name, child in children.items():
                if name in restart_at:
                    if now >= restart_at[name]:
                        del restart_at[name]
                        children[name] = self.start(name, argvs[name])
                        started[name] = now
                    continue
                code = child.poll()
                if code is None:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)  # its orphans, e.g. pool workers
                if now - started[name] >= STABLE_SECONDS:
                    failures[name] = 0
                delay = BACKOFF_SECONDS[min(failures[name], len(BACKOFF_SECONDS) - 1)]
                failures[name] += 1
                how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
                self.stderr.write(
                    f"{name} {how}; restarting it in {delay} s (restart {failures[name]})."
                )
                restart_at[name] = now + delay
            time.sleep(0.2)

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
