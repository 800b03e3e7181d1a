"""API pagination: ``?limit=&offset=`` with an upper bound on ``limit``."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

# The most rows one page may hold, whatever ``?limit`` asks for (larger values are lowered).
API_MAX_LIMIT = 500


class CappedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = API_MAX_LIMIT
