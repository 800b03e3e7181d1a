"""The OutboundCall log: one row per HTTP attempt, written before the call and completed
after it, each write in its own short autocommit (never inside the relay's transaction), so a
relay killed mid-call leaves a ``started`` row as evidence. URLs and bodies are stored with
the account's secrets and every token-like value masked (``channels_app.masking``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from channels_app.masking import masked
from channels_app.models import OutboundCall


class OutboundCallRecorder:
    def __init__(
        self,
        *,
        account_id: int,
        outbox_id: int | None,
        order_id: int | None,
        secret_values: Iterable[str] = (),
    ) -> None:
        self.account_id = account_id
        self.secret_values = [value for value in secret_values if value]
        self.outbox_id = outbox_id
        self.order_id = order_id
        self.call_ids: list[int] = []
        # Calls started and not finished yet (the request raised before any answer).
        self._open: set[int] = set()

    def start(self, *, operation: str, method: str, url: str, body: str) -> int:
        call = OutboundCall.objects.create(
            outbox_id=self.outbox_id,
            account_id=self.account_id,
            order_id_ref=self.order_id,
            operation=operation[:64],
            method=method[:8],
            url=masked(url, self.secret_values)[:1000],
            request_body=masked(body, self.secret_values)[:20000],
            started_at=timezone.now(),
        )
        self.call_ids.append(call.pk)
        self._open.add(call.pk)
        return call.pk

    def finish(
        self,
        call_id: int,
        *,
        status: int | None,
        body: str,
        latency_ms: int,
        outcome: str,
        error: str = "",
    ) -> None:
        self._open.discard(call_id)
        OutboundCall.objects.filter(pk=call_id).update(
            response_status=status,
            response_body=masked(body, self.secret_values)[:20000],
            latency_ms=latency_ms,
            outcome=outcome,
            error=error[:2000],
        )

    def mark_last(self, outcome: str, error: str = "") -> None:
        """Set the business outcome on the attempt's last call (e.g. ``already_done``)."""
        if self.call_ids:
            fields: dict[str, str] = {"outcome": outcome}
            if error:
                fields["error"] = error[:2000]
            OutboundCall.objects.filter(pk=self.call_ids[-1]).update(**fields)

    def open_calls_close(self, outcome: str, error: str) -> int:
        """Finish the calls that were started but never got an answer (the request raised
        before or while it was sent) with ``outcome`` and ``error``; returns how many."""
        ids = sorted(self._open)
        self._open.clear()
        if not ids:
            return 0
        return OutboundCall.objects.filter(pk__in=ids).update(outcome=outcome, error=error[:2000])
