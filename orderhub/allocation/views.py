"""The warehouse's staff page: what is offered to it now, each order with a Claim button.

The button calls the same ``allocation_claim`` service as ``POST
/api/v1/warehouses/<code>/claims/``: the first valid claim wins, the others learn who holds it.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from orderhub.allocation import selectors, services
from orderhub.models import Warehouse

OFFERS_SHOWN = 200


def _warehouse_or_404(code: str, user: object) -> Warehouse:
    warehouse = Warehouse.objects.filter(code=code, is_active=True).first()
    if warehouse is None or not services.user_may_act_for(user, warehouse):
        raise Http404
    return warehouse


@require_GET
@login_required
def warehouse_list(request: HttpRequest) -> HttpResponse:
    """The warehouses this user may act for; a user with one warehouse goes straight to it."""
    visible = [
        warehouse
        for warehouse in Warehouse.objects.filter(is_active=True).order_by("code")
        if services.user_may_act_for(request.user, warehouse)
    ]
    if len(visible) == 1:
        return redirect("allocation:offers", code=visible[0].code)
    return render(request, "allocation/warehouses.html", {"warehouses": visible})


@require_GET
@login_required
def warehouse_offers(request: HttpRequest, code: str) -> HttpResponse:
    warehouse = _warehouse_or_404(code, request.user)
    offers = list(selectors.offers_open_for_warehouse(warehouse)[: OFFERS_SHOWN + 1])
    return render(
        request,
        "allocation/offers.html",
        {
            "warehouse": warehouse,
            "offers": offers[:OFFERS_SHOWN],
            "more": len(offers) > OFFERS_SHOWN,
        },
    )


@require_POST
@login_required
def warehouse_claim(request: HttpRequest, code: str) -> HttpResponse:
    warehouse = _warehouse_or_404(code, request.user)
    try:
        order_id = int(request.POST.get("order", ""))
    except ValueError:
        raise Http404 from None
    try:
        result = services.allocation_claim(
            order_id=order_id, warehouse_code=warehouse.code, user=request.user
        )
    except services.AllocationNotFoundError:
        raise Http404 from None
    except services.AllocationError as exc:
        messages.error(request, _("Order #%(order)s cannot be claimed: %(reason)s") % {
            "order": order_id, "reason": exc,
        })  # fmt: skip
        return redirect("allocation:offers", code=warehouse.code)
    values = json.loads(result.certificate.payload)
    if result.status == "won":
        messages.success(request, _("Order #%(order)s is yours (wave %(wave)s).") % {
            "order": order_id, "wave": values["wave"],
        })  # fmt: skip
    elif result.status == "held":
        messages.info(request, _("Order #%(order)s was already yours.") % {"order": order_id})
    else:
        messages.warning(
            request,
            _("Order #%(order)s was taken by warehouse %(holder)s first.")
            % {"order": order_id, "holder": values["warehouse"]},
        )
    return redirect("allocation:offers", code=warehouse.code)
