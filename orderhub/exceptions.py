class OrderError(Exception):
    """Base class of the order domain's errors."""


class OrderNotFoundError(OrderError):
    pass


class OrderTransitionError(OrderError):
    """The requested transition is not allowed from the order's current status."""

    def __init__(self, *, order_id: int, current: str, target: str) -> None:
        self.order_id = order_id
        self.current = current
        self.target = target
        super().__init__(f"order {order_id}: cannot go from {current!r} to {target!r}")


class OrderConflictError(OrderTransitionError):
    """Another transaction changed the order's status first."""

    def __init__(self, *, order_id: int, current: str, target: str) -> None:
        super().__init__(order_id=order_id, current=current, target=target)
        self.args = (
            f"order {order_id}: status changed concurrently to {current!r}; "
            f"{target!r} was not applied",
        )


class OrderPermissionError(OrderError):
    """The user may not fire this transition."""

    def __init__(self, message: str, *, current: str) -> None:
        super().__init__(message)
        self.current = current


class OrderDataError(OrderError):
    """A value an order would store is refused; ``field`` names it, the message says why.

    ``str(error)`` is the message alone, fit to show as a failure reason
    ("city is 80 characters, at most 64").
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class OrderActionError(OrderError):
    """An explicit order action (warehouse, tracking, priority, note, cancel) was refused
    because a value is unknown or invalid."""


class OrderActionPermissionError(OrderActionError):
    """The user lacks the action's permission, or the action would take an order out of the
    warehouses they work for."""
