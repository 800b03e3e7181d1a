from __future__ import annotations

import os
import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from health.demo import demo_feedback_load
from health.rollup import score_daily_rollup, score_rollup_due
from orderhub.demo import demo_load
from orderhub.models import Warehouse


def logins_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-logins.txt"


class Command(BaseCommand):
    help = "Load the demo data set (idempotent) and make sure the demo logins exist."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--orders", type=int, default=300)
        parser.add_argument("--seed", type=int, default=20261125)
        parser.add_argument(
            "--print-logins",
            action="store_true",
            help="only print the demo logins kept in ORDERHUB_VAR_DIR/demo-logins.txt",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["print_logins"]:
            path = logins_path()
            if not path.exists():
                raise CommandError(f"no demo logins yet ({path}): run `manage.py demo_data`")
            for line in path.read_text().splitlines():
                if line:
                    username, _sep, password = line.partition(" ")
                    self.stdout.write(f"login: {username} / {password}")
            return
        with tqdm(total=options["orders"], desc="demo orders", unit="order") as bar:
            summary = demo_load(
                orders=options["orders"], seed=options["seed"], progress=lambda _i: bar.update()
            )
        self.stdout.write(
            f"warehouses: {summary.warehouses}, products: {summary.products}, "
            f"orders created: {summary.orders_created}, orders in database: {summary.orders_total}"
        )
        feedback = demo_feedback_load(seed=options["seed"])
        self.stdout.write(f"reviews, complaints and returns created: {feedback}")
        days = score_rollup_due(now=timezone.now())
        rows = sum(score_daily_rollup(day=day) for day in days)
        self.stdout.write(f"health score rolled up for {len(days)} past days ({rows} rows)")
        credentials = self._logins()
        for line in credentials:
            self.stdout.write(self.style.SUCCESS(line))

    def _logins(self) -> list[str]:
        """An admin and a warehouse manager who only sees WH-SH's orders.

        Passwords are generated once and kept in ORDERHUB_VAR_DIR/demo-logins.txt (outside git).
        """
        path = logins_path()
        stored: dict[str, str] = {}
        if path.exists():
            stored = dict(line.split(" ", 1) for line in path.read_text().splitlines() if line)
        User = get_user_model()
        lines = []
        for username, is_super in (("admin", True), ("wh-shanghai", False)):
            password = stored.get(username) or os.environ.get(
                f"DEMO_{username.upper().replace('-', '_')}_PASSWORD", secrets.token_urlsafe(9)
            )
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": True, "is_superuser": is_super}
            )
            if created or username not in stored:
                user.set_password(password)
                user.save()
            if not is_super:
                user.user_permissions.set(
                    Permission.objects.filter(
                        content_type__app_label="orderhub",
                        # A warehouse manager: sees WH-SH's orders, moves them along, sets
                        # tracking, priority and notes; cannot reassign or cancel them.
                        codename__in=["view_order", "change_order", "transition_order",
                                      "view_statusfact", "set_tracking", "set_priority",
                                      "set_internal_note", "view_trackingevent"],
                    )
                )  # fmt: skip
                Warehouse.objects.get(code="WH-SH").staff.add(user)
            stored[username] = password
            lines.append(f"login: {username} / {password}")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readable by the owner only, from the first byte on.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write("".join(f"{u} {p}\n" for u, p in stored.items()))
        path.chmod(0o600)
        return lines
