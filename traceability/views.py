"""Staff pages of the trace: find an order by any identifier, see its trace, download the PDF."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.http import require_GET

from orderhub.addresses import order_address
from orderhub.models import Order
from orderhub.selectors import order_find, order_visible_to
from traceability import checkpoints
from traceability.pdf import trace_pdf_render
from traceability.selectors import order_trace
from traceability.services import trace_export_record
from traceability.story import story_lines, story_summary


def _visible_order(request: HttpRequest, order_id: int) -> Order:
    order = order_visible_to(request.user).filter(pk=order_id).first()
    if order is None:
        raise Http404
    return order


@require_GET
@login_required
def trace_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    orders: list[Order] = []
    if query:
        orders = list(order_find(reference=query, queryset=order_visible_to(request.user))[:50])
        if len(orders) == 1:
            return redirect("traceability:trace_detail", order_id=orders[0].pk)
    return render(request, "traceability/trace_search.html", {"query": query, "orders": orders})


@require_GET
@login_required
def trace_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _visible_order(request, order_id)
    trace = order_trace(order=order)
    lines = story_lines(order=order)
    context = {
        "trace": trace,
        "lines": lines,
        "summary": story_summary(order=order, lines=lines),
        "address": order_address(order),
    }
    return render(request, "traceability/trace_detail.html", context)


@require_GET
@login_required
def trace_pdf(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _visible_order(request, order_id)
    pdf = trace_pdf_render(trace=order_trace(order=order), language=translation.get_language())
    trace_export_record(order_id=order.pk, user=request.user, size=len(pdf))
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = f"trace-{order.pk}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def ledger_public_key(request: HttpRequest) -> HttpResponse:
    """The public key that verifies the ledger's signed checkpoints (PEM)."""
    return HttpResponse(checkpoints.public_key_pem(), content_type="application/x-pem-file")
