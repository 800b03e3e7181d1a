"""The ledger tables refuse UPDATE, DELETE and TRUNCATE.

Triggers refuse UPDATE and DELETE for every role (a superuser can only get around them on
purpose, with ``session_replication_role = replica``: the tamper tests do exactly that and
``ledger_verify`` then names the broken link). TRUNCATE is refused for every role but a
superuser, so that the test runner can still empty a test database. The migrating role (the
application role, when it is not a superuser) also loses the UPDATE, DELETE and TRUNCATE
privileges on both tables.
"""

from django.db import migrations

TABLES = ("traceability_ledgerevent", "traceability_ledgerseal")

FORWARD = """
CREATE OR REPLACE FUNCTION traceability_ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
""" + "".join(
    f"""
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION traceability_ledger_refuse_change();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION traceability_ledger_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC;
"""
    for table in TABLES
) + f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON {TABLES[0]}, {TABLES[1]} FROM %I',
                       current_user);
    END IF;
END
$$;
"""

BACKWARD = "".join(
    f"""
DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
"""
    for table in TABLES
) + "DROP FUNCTION IF EXISTS traceability_ledger_refuse_change();"


class Migration(migrations.Migration):

    dependencies = [
        ("traceability", "0002_ledger_seal"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
