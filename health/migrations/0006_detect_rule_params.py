"""Data only: the new rule parameters (``ghost_shipment.lead_hours``, the rechecks of
``customs_hs_code`` and ``duplicate_shipment``) added, with their defaults, to rule settings
stored before they existed. A value already stored is kept."""

from django.db import migrations

NEW_PARAMS = {
    "ghost_shipment": {"lead_hours": 2},
    "customs_hs_code": {"recheck_minutes": 10},
    "duplicate_shipment": {"recheck_minutes": 10},
}


def add_params(apps, schema_editor):
    RuleSetting = apps.get_model("health", "RuleSetting")
    for setting in RuleSetting.objects.filter(kind__in=list(NEW_PARAMS)):
        params = dict(setting.params or {})
        missing = {k: v for k, v in NEW_PARAMS[setting.kind].items() if k not in params}
        if missing:
            setting.params = {**params, **missing}
            setting.save(update_fields=["params"])


def remove_params(apps, schema_editor):
    RuleSetting = apps.get_model("health", "RuleSetting")
    for setting in RuleSetting.objects.filter(kind__in=list(NEW_PARAMS)):
        params = dict(setting.params or {})
        for key in NEW_PARAMS[setting.kind]:
            params.pop(key, None)
        setting.params = params
        setting.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [("health", "0005_board_score_fold")]

    operations = [migrations.RunPython(add_params, remove_params)]
