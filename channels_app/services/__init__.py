"""Every write of the channels app: accounts, intake, inbox processing, mappings."""

from channels_app.services.accounts import (
    channel_account_create,
    channel_account_options_set,
    channel_account_rekey,
    channel_account_secrets_set,
    channel_account_set_enabled,
    channel_account_update,
)
from channels_app.services.credibility import credibility_rule_delete, credibility_rule_save
from channels_app.services.intake import (
    IntakeResult,
    inbound_message_store,
    quarantine_store,
    webhook_receive,
)
from channels_app.services.mapping import (
    status_mapping_delete,
    status_mapping_save,
    status_mappings_builtin_sync,
)
from channels_app.services.processing import (
    inbox_claim,
    inbox_message_process,
    inbox_message_requeue,
    inbox_process_pending,
)

__all__ = [
    "IntakeResult",
    "channel_account_create",
    "channel_account_options_set",
    "channel_account_rekey",
    "channel_account_secrets_set",
    "channel_account_set_enabled",
    "channel_account_update",
    "credibility_rule_delete",
    "credibility_rule_save",
    "inbound_message_store",
    "inbox_claim",
    "inbox_message_process",
    "inbox_message_requeue",
    "inbox_process_pending",
    "quarantine_store",
    "status_mapping_delete",
    "status_mapping_save",
    "status_mappings_builtin_sync",
    "webhook_receive",
]
