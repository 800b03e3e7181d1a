"""The language a staff member chose sticks on every URL.

Django's ``LocaleMiddleware`` activates the default language on every URL without a language
prefix when ``i18n_patterns(prefix_default_language=False)`` is used, so a bookmark of
``/admin/`` is always Chinese even after the person chose English. This middleware keeps
Django's behaviour for prefixed URLs (the prefix wins) and for a visitor who never chose (the
default, zh-hans), and otherwise honours the language cookie that the language switch
(``set_language``) sets.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class StickyLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        if translation.get_language_from_path(request.path_info):
            return  # /en/...: the URL says it
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if chosen in dict(settings.LANGUAGES) and chosen != translation.get_language():
            translation.activate(chosen)
            request.LANGUAGE_CODE = translation.get_language()
