"""The language a staff member chose sticks on every URL.

Django's ``LocaleMiddleware`` activates the default language on every URL without a language
prefix when ``i18n_patterns(prefix_default_language=False)`` is used, so a bookmark of
``/admin/`` is always Chinese even after the person chose English. This middleware keeps
Django's behaviour for prefixed URLs (the prefix wins) and for a visitor who never chose (the
default, zh-hans), and otherwise honours the language cookie that the language switch
(``set_language``) sets.

The URL is resolved in the default language first (an unprefixed path only matches the
language-prefixed patterns in it); the chosen language is activated once the view is known,
so the page and every link it reverses speak it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


def chosen_language(request: HttpRequest) -> str:
    """The language cookie's value when it names a configured language, else ""."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    return chosen if chosen in dict(settings.LANGUAGES) else ""


class StickyLocaleMiddleware(LocaleMiddleware):
    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        if translation.get_language_from_path(request.path_info):
            return  # /en/...: the URL says it
        chosen = chosen_language(request)
        if chosen and chosen != translation.get_language():
            translation.activate(chosen)
            request.LANGUAGE_CODE = translation.get_language()
