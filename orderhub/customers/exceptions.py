class CustomerActionError(Exception):
    """A customer-side action that cannot be done (closed confirmation, missing reason)."""
