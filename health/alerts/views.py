"""The acknowledgement link of a message: staff login, then one button (GET never changes
anything: chat apps open links to preview them)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from health.alerts.exceptions import AlertError
from health.alerts.selectors import incidents_visible_to
from health.alerts.services.deliveries import ack_token_incident
from health.alerts.services.incidents import incident_acknowledge


@staff_member_required(login_url="admin:login")
@require_http_methods(["GET", "POST"])
def incident_ack(request: HttpRequest, token: str) -> HttpResponse:
    incident = ack_token_incident(token)
    if incident is None or not incidents_visible_to(request.user).filter(pk=incident.pk).exists():
        raise Http404(_("This acknowledgement link is not valid."))
    if request.method == "POST":
        try:
            incident = incident_acknowledge(incident=incident, user=request.user, source="link")
        except AlertError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Incident acknowledged: reminders stopped."))
        return redirect(request.path)
    return render(
        request, "alerts/ack.html", {"incident": incident, "title": _("Acknowledge alert")}
    )
