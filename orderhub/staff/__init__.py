"""Staff pages that tell an order's story (``/orders/<id>/``) and the ten-point self-check
(``/self-check/``, ``GET /api/v1/self-check/``). Views parse and render; the reads are in
``selectors`` and ``selfcheck``, the writes in the existing services."""
