"""What every admin with history shares: historical versions are read-only for everyone, and
the history views apply the admin's own queryset scope.

django-simple-history's ``history_form_view`` saves a POSTed form (a revert) through the
model's form, past the services and the ledger, and ``SIMPLE_HISTORY_REVERT_DISABLED`` only
hides its button; its ``history_view`` falls back to the newest historical row when the object
is outside ``get_queryset``. This base refuses every write from a history view and answers 404
for an object that exists but is outside the user's scope.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

_M = TypeVar("_M", bound=Model)


class NotFoundOutsideScopeMixin:
    """The change page of a row outside the user's ``get_queryset`` is 404 for GET and POST
    (Django's default redirects to the index with "perhaps it was deleted")."""

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if self.get_object(request, unquote(object_id)) is None:  # type: ignore[attr-defined]
            raise Http404
        return super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]


class AuditedHistoryAdmin(SimpleHistoryAdmin[_M]):
    """A SimpleHistoryAdmin whose history list and history form are scoped and read-only."""

    def _outside_scope(self, request: HttpRequest, object_id: str) -> bool:
        """The object exists but the user's ``get_queryset`` does not hold it (a deleted
        object's history stays readable where the model's admin allows it)."""
        if self.get_object(request, unquote(object_id)) is not None:
            return False
        try:
            return bool(self.model._default_manager.filter(pk=unquote(object_id)).exists())
        except (ValueError, TypeError):
            return False

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if self._outside_scope(request, object_id):
            raise Http404
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if self._outside_scope(request, object_id):
            raise Http404
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied  # historical versions are read-only for everyone
        return super().history_form_view(request, object_id, version_id, extra_context)
