"""The canonical order domain: who bought what, through which channel, and where it stands."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from orderhub.choices import (
    CANCELLABLE,
    RETURNABLE,
    FactOutcome,
    Milestone,
    OrderType,
    Priority,
    TrackingStage,
)

ZERO = Decimal("0.00")


class Customer(models.Model):
    name = models.CharField(_("name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    external_ref = models.CharField(_("external reference"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [models.Index(fields=["phone"])]

    def __str__(self) -> str:
        return self.name


class Warehouse(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    province = models.CharField(_("province"), max_length=64, blank=True)
    city = models.CharField(_("city"), max_length=64, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Staff members who work for this warehouse only see its orders.
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="warehouses", verbose_name=_("staff")
    )

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Product(models.Model):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    category = models.CharField(_("category"), max_length=100, blank=True)
    hs_code = models.CharField(
        _("HS code"), max_length=16, blank=True, help_text=_("Customs tariff code")
    )
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2, default=ZERO)
    weight_grams = models.PositiveIntegerField(_("weight (g)"), default=0)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Order(ConcurrentTransitionMixin, models.Model):
    """One canonical order, whatever channel it came from.

    ``status`` only changes through the ``@transition`` methods below, called by the services
    in ``orderhub.services``; the methods change ``self`` and nothing else.
    """

    channel = models.CharField(_("channel"), max_length=64, db_index=True)
    external_id = models.CharField(_("channel order id"), max_length=128)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("customer")
    )
    buyer_name = models.CharField(_("buyer"), max_length=200, blank=True)
    buyer_phone = models.CharField(_("buyer phone"), max_length=32, blank=True)
    buyer_email = models.EmailField(_("buyer e-mail"), blank=True)
    receiver_name = models.CharField(_("receiver"), max_length=200, blank=True)
    receiver_phone = models.CharField(_("receiver phone"), max_length=32, blank=True)
    phone_tail = models.CharField(
        _("phone tail"), max_length=4, blank=True, db_index=True,
        help_text=_("Last four digits of the receiver's phone, for look-ups"),
    )  # fmt: skip
    country = models.CharField(_("country"), max_length=2, default="CN")
    province = models.CharField(_("province"), max_length=64, blank=True)
    city = models.CharField(_("city"), max_length=64, blank=True)
    district = models.CharField(_("district"), max_length=64, blank=True)
    address = models.CharField(_("street address"), max_length=500, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=16, blank=True)

    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    goods_amount = models.DecimalField(_("goods"), max_digits=14, decimal_places=2, default=ZERO)
    shipping_amount = models.DecimalField(
        _("shipping"), max_digits=14, decimal_places=2, default=ZERO
    )
    discount_amount = models.DecimalField(
        _("discount"), max_digits=14, decimal_places=2, default=ZERO
    )
    tax_amount = models.DecimalField(_("tax"), max_digits=14, decimal_places=2, default=ZERO)
    total_amount = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=ZERO)

    order_type = models.CharField(
        _("order type"), max_length=16, choices=OrderType.choices, default=OrderType.NORMAL
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    warehouse = models.ForeignKey(
        Warehouse, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("warehouse")
    )
    carrier = models.CharField(_("carrier"), max_length=64, blank=True)
    tracking_number = models.CharField(
        _("tracking number"), max_length=64, blank=True, db_index=True
    )
    buyer_note = models.TextField(_("buyer note"), blank=True)
    internal_note = models.TextField(
        _("internal note"), blank=True, help_text=_("Seen by staff only, never sent to a channel")
    )

    # Each milestone time is the source's clock (when the channel or system says it happened);
    # the ``*_received_at`` beside it is ours (when OrderHub learned it).
    placed_at = models.DateTimeField(_("placed at"), null=True, blank=True, db_index=True)
    placed_received_at = models.DateTimeField(_("placed: received at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    paid_received_at = models.DateTimeField(_("paid: received at"), null=True, blank=True)
    ship_by = models.DateTimeField(_("ship by"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    shipped_received_at = models.DateTimeField(_("shipped: received at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    delivered_received_at = models.DateTimeField(_("delivered: received at"), null=True, blank=True)

    status = FSMField(
        _("status"), max_length=32, choices=Milestone.choices, default=Milestone.PLACED,
        protected=True, db_index=True,
    )  # fmt: skip
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="order_unique_channel_external_id"
            )
        ]
        indexes = [models.Index(fields=["status", "placed_at"])]
        permissions = [
            ("transition_order", _("Can move an order through its lifecycle")),
            ("cancel_order", _("Can cancel an order")),
            ("assign_warehouse", _("Can assign or change an order's warehouse")),
            ("set_tracking", _("Can set an order's carrier and tracking number")),
            ("set_priority", _("Can set an order's priority")),
            ("set_internal_note", _("Can set an order's internal note")),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"

    # --- lifecycle -------------------------------------------------------------------------
    # One method per edge. Permissions name who may fire it from the admin.

    @transition(
        field=status, source=Milestone.PLACED, target=Milestone.PAID,
        permission="orderhub.transition_order", custom={"label": _("Mark paid")},
    )  # fmt: skip
    def pay(self) -> None:
        pass

    @transition(
        field=status, source=Milestone.PAID, target=Milestone.STOCK_LOCKED,
        permission="orderhub.transition_order", custom={"label": _("Lock stock")},
    )  # fmt: skip
    def lock_stock(self) -> None:
        pass

    @transition(
        field=status, source=Milestone.STOCK_LOCKED, target=Milestone.AWAITING_CONFIRMATION,
        permission="orderhub.transition_order", custom={"label": _("Ask customer to confirm")},
    )  # fmt: skip
    def await_confirmation(self) -> None:
        pass

    @transition(
        field=status, source=[Milestone.STOCK_LOCKED, Milestone.AWAITING_CONFIRMATION],
        target=Milestone.WAREHOUSE_ACCEPTED, permission="orderhub.transition_order",
        custom={"label": _("Warehouse accepts")},
    )  # fmt: skip
    def accept_in_warehouse(self) -> None:
        pass

    @transition(
        field=status, source=Milestone.WAREHOUSE_ACCEPTED, target=Milestone.PICKED_PACKED,
        permission="orderhub.transition_order", custom={"label": _("Picked and packed")},
    )  # fmt: skip
    def pick_pack(self) -> None:
        pass

    @transition(
        field=status, source=Milestone.PICKED_PACKED, target=Milestone.WAYBILL_ISSUED,
        permission="orderhub.transition_order", custom={"label": _("Issue waybill")},
    )  # fmt: skip
    def issue_waybill(self) -> None:
        pass

    @transition(
        field=status, source=Milestone.WAYBILL_ISSUED, target=Milestone.HANDED_OVER,
        permission="orderhub.transition_order", custom={"label": _("Hand over to courier")},
    )  # fmt: skip
    def hand_over(self) -> None:
        pass

    @transition(
        field=status, source=Milestone.HANDED_OVER, target=Milestone.COLLECTED,
        permission="orderhub.transition_order", custom={"label": _("Carrier collected")},
    )  # fmt: skip
    def collect(self) -> None:
        pass

    @transition(
        field=status, source=Milestone.COLLECTED, target=Milestone.DELIVERED,
        permission="orderhub.transition_order", custom={"label": _("Delivered")},
    )  # fmt: skip
    def deliver(self) -> None:
        pass

    @transition(
        field=status, source=sorted(CANCELLABLE), target=Milestone.CANCELLED,
        permission="orderhub.cancel_order", custom={"label": _("Cancel")},
    )  # fmt: skip
    def cancel(self) -> None:
        pass

    @transition(
        field=status, source=sorted(RETURNABLE), target=Milestone.RETURNED,
        permission="orderhub.transition_order", custom={"label": _("Returned")},
    )  # fmt: skip
    def mark_returned(self) -> None:
        pass

    # The warehouse's pick lock ran out (its lease passed with no progress): the order goes
    # back to be offered again. Only the allocation sweep fires it; no person may.
    @transition(
        field=status, source=Milestone.WAREHOUSE_ACCEPTED, target=Milestone.STOCK_LOCKED,
        permission=lambda instance, user: False,
    )  # fmt: skip
    def release_from_warehouse(self) -> None:
        pass


# Which transition method reaches each milestone: the services walk the path with it.
TRANSITION_TO: dict[str, str] = {
    Milestone.PAID: "pay",
    Milestone.STOCK_LOCKED: "lock_stock",
    Milestone.AWAITING_CONFIRMATION: "await_confirmation",
    Milestone.WAREHOUSE_ACCEPTED: "accept_in_warehouse",
    Milestone.PICKED_PACKED: "pick_pack",
    Milestone.WAYBILL_ISSUED: "issue_waybill",
    Milestone.HANDED_OVER: "hand_over",
    Milestone.COLLECTED: "collect",
    Milestone.DELIVERED: "deliver",
    Milestone.CANCELLED: "cancel",
    Milestone.RETURNED: "mark_returned",
}


class OrderLine(models.Model):
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order")
    )
    line_no = models.PositiveIntegerField(_("line"))
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("product")
    )
    sku = models.CharField(_("SKU"), max_length=64)
    title = models.CharField(_("title"), max_length=255, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="orderline_unique_line_no")
        ]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.line_no} {self.sku} x{self.quantity}"


class StatusFact(models.Model):
    """One system's statement about an order's status, kept with its raw wording.

    ``occurred_at`` is the source's clock, ``received_at`` ours. ``dedupe_key`` makes the same
    statement arriving twice one row.
    """

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="facts", verbose_name=_("order")
    )
    system = models.CharField(
        _("system"), max_length=64, help_text=_("e.g. shopify:shop-1, wms:WH-SH, courier:SF")
    )
    raw_status = models.CharField(_("raw status"), max_length=128)
    milestone = models.CharField(
        _("milestone"), max_length=32, choices=Milestone.choices, blank=True
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    # Set by the service that stores the fact (not auto_now_add: the order's milestone
    # ``*_received_at`` copies this very value before the row is written).
    received_at = models.DateTimeField(_("received at"), default=timezone.now, editable=False)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=FactOutcome.choices, default=FactOutcome.PENDING
    )
    status_before = models.CharField(_("order status before"), max_length=32, blank=True)
    status_after = models.CharField(_("order status after"), max_length=32, blank=True)
    skipped = models.JSONField(_("skipped milestones"), default=list, blank=True)
    dedupe_key = models.CharField(max_length=64)
    source_message_id = models.BigIntegerField(_("source message"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("status fact")
        verbose_name_plural = _("status facts")
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "dedupe_key"], name="statusfact_unique_dedupe")
        ]
        indexes = [
            models.Index(fields=["order", "occurred_at"]),
            models.Index(fields=["outcome"], name="statusfact_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.system}: {self.raw_status} → {self.milestone or '?'}"


class TrackingEvent(models.Model):
    """One courier-feed event of a waybill, kept with the provider's raw words.

    Stored whether or not an order owns the waybill yet (``order`` is null until one does);
    ``dedupe_key`` makes the same event pushed again one row. The events of a waybill, in
    ``occurred_at`` order, are its tracking timeline.
    """

    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.CASCADE, related_name="tracking_events",
        verbose_name=_("order"),
    )  # fmt: skip
    system = models.CharField(_("system"), max_length=64, help_text=_("e.g. kuaidi100:kd100-main"))
    carrier = models.CharField(_("carrier"), max_length=64, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"))
    stage = models.CharField(_("stage"), max_length=32, choices=TrackingStage.choices)
    raw_state = models.CharField(_("raw state"), max_length=64)
    raw_substate = models.CharField(_("raw sub-state"), max_length=64, blank=True)
    milestone = models.CharField(
        _("milestone"), max_length=32, choices=Milestone.choices, blank=True
    )
    description = models.CharField(_("description"), max_length=500, blank=True)
    location = models.CharField(_("location"), max_length=200, blank=True)
    dedupe_key = models.CharField(max_length=64)
    source_message_id = models.BigIntegerField(_("source message"), null=True, blank=True)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "tracking_number", "dedupe_key"],
                name="trackingevent_unique_dedupe",
            )
        ]
        indexes = [
            models.Index(fields=["tracking_number", "occurred_at"]),
            models.Index(fields=["order", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.tracking_number} {self.stage} @ {self.occurred_at:%Y-%m-%d %H:%M}"


# --- Stock: levels reported by the warehouses' systems, reservations, shortages ---------------


class StockLevel(models.Model):
    """What a warehouse's system last said it holds of one SKU, and how much OrderHub reserved.

    ``on_hand`` is the reporter's figure, replaced on every report; ``reserved`` is OrderHub's
    own and only changes through ``orderhub.services.stock`` (conditional UPDATEs).
    """

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="stock_levels",
        verbose_name=_("warehouse"),
    )  # fmt: skip
    sku = models.CharField(_("SKU"), max_length=64)
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    updated_at = models.DateTimeField(_("updated at"))
    source = models.CharField(_("reported by"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        ordering = ["warehouse", "sku"]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "sku"], name="stocklevel_unique_sku"),
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0), name="stocklevel_reserved_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id}:{self.sku} {self.on_hand}/{self.reserved}"


class ReservationStatus(models.TextChoices):
    RESERVED = "reserved", _("Reserved")
    RELEASED = "released", _("Released")


class StockReservation(models.Model):
    """The quantity of one SKU held in one warehouse for one order (lines of a SKU summed)."""

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="stock_reservations",
        verbose_name=_("order"),
    )  # fmt: skip
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    sku = models.CharField(_("SKU"), max_length=64)
    quantity = models.PositiveIntegerField(_("quantity"))
    status = models.CharField(
        _("status"), max_length=16, choices=ReservationStatus.choices,
        default=ReservationStatus.RESERVED,
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stock reservation")
        verbose_name_plural = _("stock reservations")
        ordering = ["order", "sku"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "warehouse", "sku"], name="stockreservation_unique_sku"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.sku} x{self.quantity} ({self.status})"


class StockShortage(models.Model):
    """An order whose SKU could not be reserved: ``missing`` units were not available.

    One open shortage per (order, SKU); the consistency engine turns it into a
    ``stock_shortage`` anomaly. Resolved when the order's stock is reserved or released.
    """

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="stock_shortages", verbose_name=_("order")
    )
    sku = models.CharField(_("SKU"), max_length=64)
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    missing = models.PositiveIntegerField(_("missing quantity"))
    opened_at = models.DateTimeField(_("opened at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stock shortage")
        verbose_name_plural = _("stock shortages")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "sku"],
                condition=models.Q(resolved_at__isnull=True),
                name="stockshortage_one_open_per_sku",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.sku} missing {self.missing}"


# --- Allocation: offers to warehouses, first-claim-wins locks, waves --------------------------


class WarehouseRule(models.Model):
    """Which provinces a warehouse serves (a business user edits it; history kept).

    A warehouse without an active rule, or with no provinces listed, serves everywhere.
    """

    warehouse = models.OneToOneField(
        Warehouse, on_delete=models.CASCADE, related_name="allocation_rule",
        verbose_name=_("warehouse"),
    )  # fmt: skip
    provinces = models.TextField(
        _("provinces"), blank=True,
        help_text=_("Provinces this warehouse serves, one per line or comma-separated; "
                    "empty means all"),
    )  # fmt: skip
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("warehouse rule")
        verbose_name_plural = _("warehouse rules")
        ordering = ["warehouse"]

    def __str__(self) -> str:
        return f"{self.warehouse_id}: {self.provinces or '*'}"

    def province_list(self) -> list[str]:
        # Commas, full-width commas (U+FF0C) and line breaks all separate provinces.
        parts = self.provinces.replace("\uff0c", ",").replace(",", "\n").splitlines()
        return [part.strip() for part in parts if part.strip()]


class Offer(models.Model):
    """The order is offered to this warehouse from ``offered_at`` until ``withdrawn_at``."""

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="offers", verbose_name=_("order")
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.CASCADE, related_name="offers", verbose_name=_("warehouse")
    )
    offered_at = models.DateTimeField(_("offered at"))
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["offered_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "warehouse"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="offer_one_open_per_warehouse",
            )
        ]
        indexes = [
            models.Index(
                fields=["warehouse", "offered_at"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="offer_open_by_warehouse",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} → {self.warehouse_id}"


class Wave(models.Model):
    """Won orders of one warehouse grouped for picking; closes after N orders or M minutes."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.CASCADE, related_name="waves", verbose_name=_("warehouse")
    )
    number = models.PositiveIntegerField(_("number"))
    opened_at = models.DateTimeField(_("opened at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    size = models.PositiveIntegerField(_("orders"), default=0)

    class Meta:
        verbose_name = _("wave")
        verbose_name_plural = _("waves")
        ordering = ["warehouse", "number"]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "number"], name="wave_unique_number"),
            models.UniqueConstraint(
                fields=["warehouse"],
                condition=models.Q(closed_at__isnull=True),
                name="wave_one_open_per_warehouse",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id} wave {self.number}"


class Allocation(models.Model):
    """A warehouse's pick lock on an order, won by the first valid claim.

    At most one live allocation per order (``released_at`` null): the partial unique
    constraint decides the winner (``INSERT ... ON CONFLICT DO NOTHING``). ``sequence`` counts
    the order's locks (1, then 2 after a release...). The certificate is signed from the
    committed row and stored once.
    """

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="allocations", verbose_name=_("order")
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="allocations",
        verbose_name=_("warehouse"),
    )  # fmt: skip
    wave = models.ForeignKey(
        Wave, null=True, blank=True, on_delete=models.PROTECT, related_name="allocations",
        verbose_name=_("wave"),
    )  # fmt: skip
    sequence = models.PositiveIntegerField(_("sequence"))
    claimed_at = models.DateTimeField(_("claimed at"))
    claimed_by = models.CharField(_("claimed by"), max_length=150, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    picked_at = models.DateTimeField(_("picked at"), null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release_reason = models.CharField(_("release reason"), max_length=200, blank=True)
    ledger_event_id = models.BigIntegerField(_("ledger event"), null=True, blank=True)
    certificate_payload = models.TextField(_("certificate payload"), blank=True)
    certificate_signature = models.CharField(_("certificate signature"), max_length=200, blank=True)
    key_id = models.CharField(_("key id"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["-claimed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(released_at__isnull=True),
                name="allocation_one_live_per_order",
            ),
            models.UniqueConstraint(
                fields=["order", "sequence"], name="allocation_unique_sequence"
            ),
        ]
        indexes = [
            models.Index(
                fields=["lease_until"],
                condition=models.Q(released_at__isnull=True, picked_at__isnull=True),
                name="allocation_lease_due",
            )
        ]
        permissions = [
            ("claim_any_warehouse", _("Can claim orders for any warehouse")),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} → {self.warehouse_id} #{self.sequence}"
