"""``manage.py oncall_config export|apply``: the configuration as code (docs/configuration.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from escalation.config import apply, document, plan


class Command(BaseCommand):
    help = "Export the whole configuration as YAML, or apply such a document."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        export = actions.add_parser("export", help="Write the configuration as YAML.")
        export.add_argument("--output", "-o", help="File to write (default: standard output).")
        write = actions.add_parser("apply", help="Validate, show the plan and apply a document.")
        write.add_argument("file", help="The YAML (or JSON) document; - for standard input.")
        write.add_argument("--dry-run", action="store_true", help="Show the plan only.")
        write.add_argument(
            "--prune", action="store_true", help="Delete what the document's kinds leave out."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            text = document.dump(document.export())
            if options["output"]:
                Path(options["output"]).write_text(text, encoding="utf-8")
            else:
                self.stdout.write(text, ending="")
            return
        source = options["file"]
        try:
            raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            loaded = document.load(raw)
        except (OSError, UnicodeDecodeError, document.Unreadable) as error:
            raise CommandError(str(error)) from None
        try:
            changes = apply.run(loaded, prune=options["prune"], commit=not options["dry_run"])
        except plan.Invalid as invalid:
            for path, messages in sorted(invalid.errors.items()):
                for message in messages:
                    self.stderr.write(f"{path}: {message}")
            raise CommandError("The document is not valid; nothing was applied.") from None
        self.stdout.write(plan.text(changes), ending="")
        if changes:
            done = "Dry run: nothing was applied." if options["dry_run"] else "Applied."
            self.stdout.write(done)
