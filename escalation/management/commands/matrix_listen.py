"""``manage.py matrix_listen``: the Matrix listener (reactions, redactions, commands).

Long-polls ``/sync`` as the bot (``MATRIX_HOMESERVER``, ``MATRIX_ACCESS_TOKEN``) and acts
for known people; see ``escalation/chatops/listener.py``. SIGTERM or Ctrl-C
stops it after the current round; a database or homeserver outage is waited out.
``make run`` starts it when ``MATRIX_HOMESERVER`` is set.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, close_old_connections

from escalation import plugins
from escalation.channels import matrix

log = logging.getLogger("escalation.matrix")


class Command(BaseCommand):
    help = "Act on reactions and commands in the Matrix rooms the bot is in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--timeout", type=int, default=30, help="long-poll timeout in seconds (default 30)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not matrix.configured():
            raise CommandError("Set MATRIX_HOMESERVER and MATRIX_ACCESS_TOKEN first.")
        plugins.register_matrix()
        from escalation.channels.matrix import topic
        from escalation.channels.matrix.channel import client
        from escalation.channels.matrix.client import MatrixError
        from escalation.chatops.listener import Listener

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        listener = None
        backoff = 1.0
        while not stop.is_set():
            try:
                close_old_connections()
                if listener is None:
                    listener = Listener(client(), timeout_ms=options["timeout"] * 1000)
                    # Topics set while the bot was away (or never) are current from now on.
                    written = topic.update_all()
                    self.stdout.write(
                        f"listening as {listener.user_id}; {written} room topics set",
                        ending="\n",
                    )
                    self.stdout.flush()
                listener.run_once()
                backoff = 1.0
            except (OperationalError, InterfaceError, MatrixError) as error:
                log.warning("matrix listener: %s; again in %.0f s", error, backoff)
                retry_after = getattr(error, "retry_after", None)
                stop.wait(retry_after or backoff)
                backoff = min(backoff * 2, 60.0)
        self.stdout.write("stopped")
