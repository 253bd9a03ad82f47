"""``manage.py import_grafana_oncall``: Grafana OnCall's public API → a configuration
document for ``oncall_config apply``, and a report of what could not be mapped
(docs/migrating.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from escalation.config import apply, document, plan
from escalation.grafana import client, importer


class Command(BaseCommand):
    help = (
        "Read Grafana OnCall's public API (users, teams, schedules, shifts, escalation chains, "
        "integrations, routes) and write it as a configuration document, with a report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="Grafana OnCall's API address.")
        parser.add_argument("--token", required=True, help="A Grafana OnCall API token.")
        parser.add_argument("--output", "-o", help="Write the YAML here (default: stdout).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the report and the YAML; write nothing."
        )
        parser.add_argument(
            "--apply", action="store_true", help="Apply the document (oncall_config apply)."
        )
        parser.add_argument("--timeout", type=float, default=client.TIMEOUT, help="Seconds.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            source = client.Client(
                options["url"], options["token"], timeout=options["timeout"]
            ).fetch()
        except client.GrafanaError as error:
            raise CommandError(str(error)) from None
        doc, report = importer.build(source, timezone.now())
        text = importer.to_yaml(doc, report, options["url"])
        dry_run = options["dry_run"]
        if options["output"] and not dry_run:
            try:
                Path(options["output"]).write_text(text, encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Cannot write {options['output']}: {error}") from None
            self.stdout.write(report.render(), ending="")
            self.stdout.write(f"Wrote {options['output']}.")
        else:
            self.stderr.write(report.render(), ending="")
            self.stdout.write(text, ending="")
        if options["apply"]:
            self._apply(text, commit=not dry_run)

    def _apply(self, text: str, *, commit: bool) -> None:
        try:
            changes = apply.run(document.load(text), commit=commit)
        except plan.Invalid as invalid:
            for path, messages in sorted(invalid.errors.items()):
                for message in messages:
                    self.stderr.write(f"{path}: {message}")
            raise CommandError("The imported document is not valid; nothing was applied.") from None
        self.stderr.write(plan.text(changes), ending="")
        if changes:
            self.stderr.write("Applied." if commit else "Dry run: nothing was applied.")
