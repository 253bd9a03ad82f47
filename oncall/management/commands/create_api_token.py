from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oncall.models import ApiToken, Scope
from rotations.models import Person


class Command(BaseCommand):
    help = "Create an API token. The secret is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--scope", action="append", choices=Scope.values, required=True, dest="scopes"
        )
        parser.add_argument("--person", help="handle of the person the token acts for")

    def handle(
        self, *args: Any, name: str, scopes: list[str], person: str | None, **options: Any
    ) -> None:
        owner = None
        if person:
            owner = Person.objects.filter(handle=person).first()
            if owner is None:
                raise CommandError(f"unknown person {person!r}")
        token = ApiToken(name=name, scopes=sorted(set(scopes)), person=owner)
        secret = token.set_new_secret()
        token.save()
        self.stderr.write(f"Created token {token} with scopes {', '.join(token.scopes)}.")
        self.stdout.write(secret)
