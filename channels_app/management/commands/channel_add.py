"""``manage.py channel_add --kind KIND --code CODE [--secret S] [--option KEY=VALUE ...]``."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.adapters.base import OptionSpec, adapters
from channels_app.services import channel_account_create


def kinds_help() -> str:
    lines = ["kinds, their options (--option NAME=VALUE) and secrets (--secret NAME=VALUE):"]
    for kind, adapter in adapters.items():
        lines.append(f"\n  {kind}  ({adapter.label})")
        for spec in adapter.options:
            flag = "--secret" if spec.secret else "--option"
            need = "required" if spec.required else "optional"
            lines.append(f"    {flag} {spec.name}=...  [{need}] {spec.help}")
    lines.append(
        "\n  --secret VALUE without a name sets the kind's main secret: its first secret above"
        "\n  (Shopify's webhook_secret). The other secrets are given as --secret NAME=VALUE."
    )
    return "\n".join(lines)


def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise CommandError(f"--{what} {value!r}: expected NAME=VALUE")
        pairs[name.strip()] = rest
    return pairs


def parse_secrets(values: list[str], specs: tuple[OptionSpec, ...]) -> dict[str, str]:
    """``--secret NAME=VALUE`` for a named secret, ``--secret VALUE`` for the main one.

    The main secret is the kind's first secret spec (the one every delivery or call needs:
    Shopify's webhook secret, Youzan's client secret). A value may itself contain ``=``
    (base64): it is read as named only when the part before the first ``=`` is a secret name.
    """
    names = [spec.name for spec in specs if spec.secret]
    secrets: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if sep and name in names:
            if name in secrets:
                raise CommandError(f"--secret {name}: given twice")
            secrets[name] = rest
            continue
        if not names:
            raise CommandError("--secret: this kind takes no secrets")
        main = names[0]
        if main in secrets:
            raise CommandError(
                f"--secret {value[:8]}…: the main secret ({main}) is already set; name the "
                f"others (NAME=VALUE), one of {', '.join(names)}"
            )
        secrets[main] = value  # --secret VALUE (values may contain '=' themselves)
    return secrets


class Command(BaseCommand):
    help = "Create a channel account and print its webhook path."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = kinds_help()
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, help="adapter kind (listed below)")
        parser.add_argument("--code", required=True, help="unique slug, used in /hooks/<code>/")
        parser.add_argument("--name", default="", help="display name (default: the code)")
        parser.add_argument("--secret", action="append", default=[], metavar="[NAME=]VALUE")
        parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")

    def handle(self, *args: Any, **options: Any) -> None:
        kind = options["kind"]
        if kind not in adapters:
            raise CommandError(f"unknown kind {kind!r}; known: {', '.join(adapters) or 'none'}")
        specs = adapters.get(kind).options
        try:
            account = channel_account_create(
                kind=kind,
                code=options["code"],
                name=options["name"],
                options=parse_pairs(options["option"], "option"),
                secrets=parse_secrets(options["secret"], specs),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"/hooks/{account.code}/")
