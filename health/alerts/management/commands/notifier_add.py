"""``manage.py notifier_add --kind KIND --code CODE --url URL [--secret S] [--option k=v ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from health.alerts.exceptions import AlertError
from health.alerts.notifiers.base import notifier_kinds
from health.alerts.services.notifiers import notifier_create


def kinds_help() -> str:
    lines = ["kinds and their options (--option NAME=VALUE):"]
    for kind, spec in notifier_kinds.items():
        lines.append(f"\n  {kind}  secret: {spec.key_help or 'none'}")
        for option in spec.options:
            need = "required" if option.required else "optional"
            lines.append(f"    --option {option.name}=...  [{need}] {option.help}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Add a notifier (WeCom, DingTalk, e-mail, webhook or voice) for alert rules."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = kinds_help()
        import argparse

        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind", required=True, choices=["wecom", "dingtalk", "email", "webhook", "voice"]
        )
        parser.add_argument("--code", required=True)
        parser.add_argument("--url", required=True)
        parser.add_argument("--secret", default="")
        parser.add_argument("--name", default="")
        parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--disabled", action="store_true", help="create it switched off")

    def handle(self, *args: Any, **options: Any) -> None:
        pairs: dict[str, str] = {}
        for value in options["option"]:
            name, sep, rest = value.partition("=")
            if not sep or not name:
                raise CommandError(f"--option {value!r}: expected KEY=VALUE")
            pairs[name.strip()] = rest
        try:
            notifier = notifier_create(
                kind=options["kind"],
                code=options["code"],
                url=options["url"],
                secret=options["secret"],
                options=pairs,
                name=options["name"],
                enabled=not options["disabled"],
                source="cli",
            )
        except AlertError as exc:
            raise CommandError(str(exc)) from exc
        state = "enabled" if notifier.enabled else "disabled"
        self.stdout.write(
            f"notifier {notifier.code} ({notifier.kind}, {state}): {notifier.url_masked}"
        )
