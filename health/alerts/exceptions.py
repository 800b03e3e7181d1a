class AlertError(Exception):
    """An alert write refused for a reason a person can act on (the message says it)."""
