"""The live health board (``/board/``): the page, one URL per panel (polled by htmx), the
review button, and the score's drill-down pages. Staff only; a warehouse user sees only
their warehouse, and a panel URL naming another warehouse answers 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from health import board
from health.alerts.exceptions import AlertError
from health.alerts.services.incidents import incident_acknowledge
from health.board_services import anomaly_review_record
from health.choices import ReviewDecision
from health.models import Anomaly
from health.score import COMPONENTS, SCOPES, WINDOWS, score_component_orders, window_for
from orderhub.choices import Milestone
from orderhub.models import Warehouse

PANELS = ("funnel", "top", "alerts", "map", "trends", "scores")
POLL_SECONDS = 15
COMPONENT_TITLES = {
    "sync_timeliness": _("Sync timeliness"),
    "tracking_completeness": _("Tracking completeness"),
    "positive_reviews": _("Positive review rate"),
    "no_returns": _("1 - return rate"),
}

View = Callable[..., HttpResponseBase]


def board_scoped(view: View) -> View:
    """Log-in required; resolves ``?warehouse=`` into ``request.board_scope`` or answers 404
    (another warehouse, or no right to the board: the page is not admitted to exist)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            scope = board.board_scope(request.user, request.GET.get("warehouse", "").strip())
        except board.BoardScopeError:
            raise Http404 from None
        request.board_scope = scope  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _scope(request: HttpRequest) -> board.BoardScope:
    return request.board_scope  # type: ignore[attr-defined]


@require_GET
@board_scoped
def board_page(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    warehouses = list(
        Warehouse.objects.filter(id__in=scope.warehouse_ids).order_by("code")
        if scope.warehouse_ids is not None and not scope.warehouse_code
        else Warehouse.objects.order_by("code")
        if scope.warehouse_ids is None
        else Warehouse.objects.filter(code=scope.warehouse_code)
    )
    query = f"?warehouse={scope.warehouse_code}" if scope.warehouse_code else ""
    context = {
        "panels": PANELS,
        "query": query,
        "poll_seconds": POLL_SECONDS,
        "warehouses": warehouses,
        "scope": scope,
        "limited": scope.warehouse_ids is not None,
        "map_url": static("vendor/echarts/china-provinces.geojson"),
    }
    return render(request, "health/board/page.html", context)


def _funnel_chart(rows: list[board.FunnelRow]) -> dict[str, Any]:
    labels = [str(Milestone(step).label) for step in board.FUNNEL_STEPS] + [
        str(_("Anomalies intercepted"))
    ]
    series = [
        {"name": row.channel, "data": [today for _step, today, _hour in row.steps]
         + [row.anomalies[0]]}
        for row in rows
    ]  # fmt: skip
    return {"labels": labels, "series": series}


@require_GET
@board_scoped
def board_panel(request: HttpRequest, name: str) -> HttpResponse:
    return _panel_render(request, name)


def _panel_render(request: HttpRequest, name: str) -> HttpResponse:
    now = timezone.now()
    scope = _scope(request)
    context: dict[str, Any] = {"now": now, "scope": scope, "query": request.GET.urlencode()}
    if name == "funnel":
        rows = board.funnel_panel(now=now, scope=scope)
        context.update(rows=rows, chart=_funnel_chart(rows), steps=board.FUNNEL_STEPS)
    elif name == "top":
        context.update(entries=board.top_abnormal_panel(now=now, scope=scope),
                       decisions=ReviewDecision.choices)  # fmt: skip
    elif name == "alerts":
        context.update(entries=board.alerts_panel(scope=scope), limit=board.ALERTS_LIMIT)
    elif name == "map":
        provinces = board.complaint_map_panel(now=now, scope=scope)
        context.update(
            provinces=provinces,
            chart={"data": [{"name": name_, "value": count} for name_, count in provinces],
                   "days": board.MAP_DAYS},
        )  # fmt: skip
    elif name == "trends":
        days = board.trends_panel(now=now, scope=scope)
        context.update(
            days=days,
            chart={
                "days": [day.day for day in days],
                "score": [day.score for day in days],
                "opened": [day.opened for day in days],
                "recovery": [day.recovery_median_minutes for day in days],
                "auto": [None if day.auto_within_2min_share is None
                         else round(day.auto_within_2min_share * 100, 1) for day in days],
                "names": [str(_("Health score")), str(_("Anomalies opened")),
                          str(_("Median time to resolve (min)")),
                          str(_("Share auto-repaired within 2 min"))],
            },
        )  # fmt: skip
    elif name == "scores":
        context.update(rows=board.score_panel(now=now, scope=scope), components=COMPONENTS,
                       titles=COMPONENT_TITLES)  # fmt: skip
    else:
        raise Http404
    return render(request, f"health/board/panel_{name}.html", context)


@require_POST
@board_scoped
def board_review(request: HttpRequest, anomaly_id: int) -> HttpResponseBase:
    """The review button: records the decision (only on an anomaly of an order in scope)."""
    scope = _scope(request)
    visible = Anomaly.objects.filter(scope.order_filter(), pk=anomaly_id).exists()
    if not visible:
        raise Http404
    try:
        anomaly_review_record(
            anomaly_id=anomaly_id,
            user=request.user,
            decision=request.POST.get("decision", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=400)
    if request.headers.get("HX-Request"):
        return _panel_render(request, "top")
    return redirect(request.POST.get("next") or "health-board")


def _may_acknowledge(user: Any, incident_warehouse_id: int | None) -> bool:
    """Superusers, people with the right to change incidents, and the staff of the
    incident's own warehouse (the manager the voice call reached) may acknowledge."""
    if user.is_superuser or user.has_perm("alerts.change_incident"):
        return True
    return incident_warehouse_id is not None and (
        user.warehouses.filter(pk=incident_warehouse_id).exists()
    )


@require_POST
@board_scoped
def board_alert_acknowledge(request: HttpRequest, incident_id: int) -> HttpResponseBase:
    """The open-alerts panel's button: the alerts service records who and when and stops
    the escalation. 404 for an incident outside the board's scope, 403 without the right."""
    scope = _scope(request)
    found = (
        board.incidents_in_scope(scope).filter(pk=incident_id).values_list("warehouse_id").first()
    )
    if found is None:
        raise Http404
    if not _may_acknowledge(request.user, found[0]):
        return HttpResponse(str(_("You may not acknowledge this alert.")), status=403)
    try:
        incident_acknowledge(incident=incident_id, user=request.user, source="board")
    except AlertError as error:
        return HttpResponse(str(error), status=409)
    if request.headers.get("HX-Request"):
        return _panel_render(request, "alerts")
    query = f"?warehouse={scope.warehouse_code}" if scope.warehouse_code else ""
    return redirect(reverse("health-board") + query)


@require_GET
@board_scoped
def board_score_orders(request: HttpRequest, component: str) -> HttpResponse:
    """The orders behind one score component of one subject (the drill-down)."""
    scope_name = request.GET.get("scope", "all")
    window = request.GET.get("window", "day")
    subject = request.GET.get("subject", "")
    if component not in COMPONENTS or scope_name not in SCOPES or window not in WINDOWS:
        raise Http404
    now = timezone.now()
    span = window_for(now, window)
    scope = _scope(request)
    rows, count = score_component_orders(
        component=component, scope=scope_name, subject=subject, start=span.start,
        end=span.end, warehouse_ids=scope.warehouse_ids,
    )  # fmt: skip
    for row in rows:
        row["url"] = board.board_order_url(row["id"])
        row["status_label"] = Milestone(row["status"]).label if row["status"] else ""
    context = {
        "component": component,
        "title": COMPONENT_TITLES[component],
        "scope_name": scope_name,
        "subject": subject,
        "window": window,
        "span": span,
        "rows": rows,
        "count": count,
        "limit": len(rows),
    }
    return render(request, "health/board/score_orders.html", context)
