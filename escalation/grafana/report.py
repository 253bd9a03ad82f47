"""What the import could not represent (or represented only in part), and why.

Every Grafana object is either mapped or named here: nothing is dropped silently.
``Entry.kind`` is ``not_imported`` (left out), ``partial`` (imported, but something
of it differs: the text says what) or ``action`` (something the operator must do,
like pointing an integration's senders at our endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass, field

NOT_IMPORTED = "not_imported"
PARTIAL = "partial"
ACTION = "action"

HEADINGS = {
    NOT_IMPORTED: "Not imported (no equivalent here)",
    PARTIAL: "Imported with differences",
    ACTION: "To do by hand",
}


@dataclass(frozen=True)
class Entry:
    kind: str
    subject: str  # e.g. 'escalation chain "SRE critical", step 6 (trigger_webhook)'
    reason: str


@dataclass
class Report:
    entries: list[Entry] = field(default_factory=list)

    def not_imported(self, subject: str, reason: str) -> None:
        self.entries.append(Entry(NOT_IMPORTED, subject, reason))

    def partial(self, subject: str, reason: str) -> None:
        self.entries.append(Entry(PARTIAL, subject, reason))

    def action(self, subject: str, reason: str) -> None:
        self.entries.append(Entry(ACTION, subject, reason))

    def of_kind(self, kind: str) -> list[Entry]:
        return [entry for entry in self.entries if entry.kind == kind]

    def render(self) -> str:
        lines = []
        for kind, heading in HEADINGS.items():
            entries = self.of_kind(kind)
            lines.append(f"{heading}: {len(entries) or 'nothing'}")
            lines.extend(f"  - {entry.subject}: {entry.reason}" for entry in entries)
        return "\n".join(lines) + "\n"
