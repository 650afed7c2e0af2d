"""Audit triggers on Django's own staff tables (auth_user, auth_user_groups).

pgtrigger writes migrations for our apps' models only; these two tables belong to
django.contrib.auth, so the triggers that ``config.audit.audited`` registers for them
(scheduling/models.py) are installed here, as compiled by pgtrigger. PostgreSQL only:
SQLite has no change trail. Schema migration 0007 made the event tables.
"""

from django.db import migrations

TRIGGERS = [
    # auth_user: insert_insert
    (
        'CREATE OR REPLACE FUNCTION "public"._pgtrigger_should_ignore(\ntrigger_name NAME\n)\nRETURNS BOOLEAN AS $$\nDECLARE\n_pgtrigger_ignore TEXT[];\n_result BOOLEAN;\nBEGIN\nBEGIN\nSELECT INTO _pgtrigger_ignore\nCURRENT_SETTING(\'pgtrigger.ignore\');\nEXCEPTION WHEN OTHERS THEN\nEND;\nIF _pgtrigger_ignore IS NOT NULL THEN\nSELECT trigger_name = ANY(_pgtrigger_ignore)\nINTO _result;\nRETURN _result;\nELSE\nRETURN FALSE;\nEND IF;\nEND;\n$$ LANGUAGE plpgsql;\nCREATE OR REPLACE FUNCTION pgtrigger_insert_insert_b56f4()\nRETURNS TRIGGER AS $$\nBEGIN\nIF ("public"._pgtrigger_should_ignore(TG_NAME) IS TRUE) THEN\nIF (TG_OP = \'DELETE\') THEN\nRETURN OLD;\nELSE\nRETURN NEW;\nEND IF;\nEND IF;\nINSERT INTO "scheduling_userevent" ("date_joined", "id", "is_active", "is_staff", "is_superuser", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "username") VALUES (NEW."date_joined", NEW."id", NEW."is_active", NEW."is_staff", NEW."is_superuser", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'insert\', NEW."id", NEW."username"); RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;\nDROP TRIGGER IF EXISTS pgtrigger_insert_insert_b56f4 ON "auth_user";\nCREATE  TRIGGER pgtrigger_insert_insert_b56f4\nAFTER INSERT ON "auth_user"\nFOR EACH ROW\nEXECUTE PROCEDURE pgtrigger_insert_insert_b56f4();\nCOMMENT ON TRIGGER pgtrigger_insert_insert_b56f4 ON "auth_user" IS \'6423cae8d920719e5d2f0fa34d75106df807b886\';',
        'DROP TRIGGER IF EXISTS pgtrigger_insert_insert_b56f4 ON "auth_user";\nDROP FUNCTION IF EXISTS pgtrigger_insert_insert_b56f4();',
    ),
    # auth_user: update_update
    (
        'CREATE OR REPLACE FUNCTION "public"._pgtrigger_should_ignore(\ntrigger_name NAME\n)\nRETURNS BOOLEAN AS $$\nDECLARE\n_pgtrigger_ignore TEXT[];\n_result BOOLEAN;\nBEGIN\nBEGIN\nSELECT INTO _pgtrigger_ignore\nCURRENT_SETTING(\'pgtrigger.ignore\');\nEXCEPTION WHEN OTHERS THEN\nEND;\nIF _pgtrigger_ignore IS NOT NULL THEN\nSELECT trigger_name = ANY(_pgtrigger_ignore)\nINTO _result;\nRETURN _result;\nELSE\nRETURN FALSE;\nEND IF;\nEND;\n$$ LANGUAGE plpgsql;\nCREATE OR REPLACE FUNCTION pgtrigger_update_update_2f4b7()\nRETURNS TRIGGER AS $$\nBEGIN\nIF ("public"._pgtrigger_should_ignore(TG_NAME) IS TRUE) THEN\nIF (TG_OP = \'DELETE\') THEN\nRETURN OLD;\nELSE\nRETURN NEW;\nEND IF;\nEND IF;\nINSERT INTO "scheduling_userevent" ("personal_changed", "date_joined", "id", "is_active", "is_staff", "is_superuser", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "username") VALUES (CONCAT_WS(\',\', CASE WHEN OLD."first_name" IS DISTINCT FROM NEW."first_name" THEN \'first_name\' END, CASE WHEN OLD."last_name" IS DISTINCT FROM NEW."last_name" THEN \'last_name\' END, CASE WHEN OLD."email" IS DISTINCT FROM NEW."email" THEN \'email\' END), NEW."date_joined", NEW."id", NEW."is_active", NEW."is_staff", NEW."is_superuser", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'update\', NEW."id", NEW."username"); RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;\nDROP TRIGGER IF EXISTS pgtrigger_update_update_2f4b7 ON "auth_user";\nCREATE  TRIGGER pgtrigger_update_update_2f4b7\nAFTER UPDATE ON "auth_user"\nFOR EACH ROW WHEN (OLD."date_joined" IS DISTINCT FROM (NEW."date_joined") OR OLD."email" IS DISTINCT FROM (NEW."email") OR OLD."first_name" IS DISTINCT FROM (NEW."first_name") OR OLD."id" IS DISTINCT FROM (NEW."id") OR OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."is_staff" IS DISTINCT FROM (NEW."is_staff") OR OLD."is_superuser" IS DISTINCT FROM (NEW."is_superuser") OR OLD."last_name" IS DISTINCT FROM (NEW."last_name") OR OLD."username" IS DISTINCT FROM (NEW."username"))\nEXECUTE PROCEDURE pgtrigger_update_update_2f4b7();\nCOMMENT ON TRIGGER pgtrigger_update_update_2f4b7 ON "auth_user" IS \'4b8a5a085deae2d2f2cf327f2230d083f8a4fbac\';',
        'DROP TRIGGER IF EXISTS pgtrigger_update_update_2f4b7 ON "auth_user";\nDROP FUNCTION IF EXISTS pgtrigger_update_update_2f4b7();',
    ),
    # auth_user: delete_delete
    (
        'CREATE OR REPLACE FUNCTION "public"._pgtrigger_should_ignore(\ntrigger_name NAME\n)\nRETURNS BOOLEAN AS $$\nDECLARE\n_pgtrigger_ignore TEXT[];\n_result BOOLEAN;\nBEGIN\nBEGIN\nSELECT INTO _pgtrigger_ignore\nCURRENT_SETTING(\'pgtrigger.ignore\');\nEXCEPTION WHEN OTHERS THEN\nEND;\nIF _pgtrigger_ignore IS NOT NULL THEN\nSELECT trigger_name = ANY(_pgtrigger_ignore)\nINTO _result;\nRETURN _result;\nELSE\nRETURN FALSE;\nEND IF;\nEND;\n$$ LANGUAGE plpgsql;\nCREATE OR REPLACE FUNCTION pgtrigger_delete_delete_c84fd()\nRETURNS TRIGGER AS $$\nBEGIN\nIF ("public"._pgtrigger_should_ignore(TG_NAME) IS TRUE) THEN\nIF (TG_OP = \'DELETE\') THEN\nRETURN OLD;\nELSE\nRETURN NEW;\nEND IF;\nEND IF;\nINSERT INTO "scheduling_userevent" ("date_joined", "id", "is_active", "is_staff", "is_superuser", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "username") VALUES (OLD."date_joined", OLD."id", OLD."is_active", OLD."is_staff", OLD."is_superuser", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'delete\', OLD."id", OLD."username"); RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;\nDROP TRIGGER IF EXISTS pgtrigger_delete_delete_c84fd ON "auth_user";\nCREATE  TRIGGER pgtrigger_delete_delete_c84fd\nAFTER DELETE ON "auth_user"\nFOR EACH ROW\nEXECUTE PROCEDURE pgtrigger_delete_delete_c84fd();\nCOMMENT ON TRIGGER pgtrigger_delete_delete_c84fd ON "auth_user" IS \'a1ed68e5f70f5badf646c624dc855ed5d059a9d9\';',
        'DROP TRIGGER IF EXISTS pgtrigger_delete_delete_c84fd ON "auth_user";\nDROP FUNCTION IF EXISTS pgtrigger_delete_delete_c84fd();',
    ),
    # auth_user_groups: insert_insert
    (
        'CREATE OR REPLACE FUNCTION "public"._pgtrigger_should_ignore(\ntrigger_name NAME\n)\nRETURNS BOOLEAN AS $$\nDECLARE\n_pgtrigger_ignore TEXT[];\n_result BOOLEAN;\nBEGIN\nBEGIN\nSELECT INTO _pgtrigger_ignore\nCURRENT_SETTING(\'pgtrigger.ignore\');\nEXCEPTION WHEN OTHERS THEN\nEND;\nIF _pgtrigger_ignore IS NOT NULL THEN\nSELECT trigger_name = ANY(_pgtrigger_ignore)\nINTO _result;\nRETURN _result;\nELSE\nRETURN FALSE;\nEND IF;\nEND;\n$$ LANGUAGE plpgsql;\nCREATE OR REPLACE FUNCTION pgtrigger_insert_insert_d387b()\nRETURNS TRIGGER AS $$\nBEGIN\nIF ("public"._pgtrigger_should_ignore(TG_NAME) IS TRUE) THEN\nIF (TG_OP = \'DELETE\') THEN\nRETURN OLD;\nELSE\nRETURN NEW;\nEND IF;\nEND IF;\nINSERT INTO "scheduling_usergroupsevent" ("group_id", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "user_id") VALUES (NEW."group_id", NEW."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'insert\', NEW."id", NEW."user_id"); RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;\nDROP TRIGGER IF EXISTS pgtrigger_insert_insert_d387b ON "auth_user_groups";\nCREATE  TRIGGER pgtrigger_insert_insert_d387b\nAFTER INSERT ON "auth_user_groups"\nFOR EACH ROW\nEXECUTE PROCEDURE pgtrigger_insert_insert_d387b();\nCOMMENT ON TRIGGER pgtrigger_insert_insert_d387b ON "auth_user_groups" IS \'2dbf83b08a1c0f085743604cbb9f689608778419\';',
        'DROP TRIGGER IF EXISTS pgtrigger_insert_insert_d387b ON "auth_user_groups";\nDROP FUNCTION IF EXISTS pgtrigger_insert_insert_d387b();',
    ),
    # auth_user_groups: update_update
    (
        'CREATE OR REPLACE FUNCTION "public"._pgtrigger_should_ignore(\ntrigger_name NAME\n)\nRETURNS BOOLEAN AS $$\nDECLARE\n_pgtrigger_ignore TEXT[];\n_result BOOLEAN;\nBEGIN\nBEGIN\nSELECT INTO _pgtrigger_ignore\nCURRENT_SETTING(\'pgtrigger.ignore\');\nEXCEPTION WHEN OTHERS THEN\nEND;\nIF _pgtrigger_ignore IS NOT NULL THEN\nSELECT trigger_name = ANY(_pgtrigger_ignore)\nINTO _result;\nRETURN _result;\nELSE\nRETURN FALSE;\nEND IF;\nEND;\n$$ LANGUAGE plpgsql;\nCREATE OR REPLACE FUNCTION pgtrigger_update_update_c90d5()\nRETURNS TRIGGER AS $$\nBEGIN\nIF ("public"._pgtrigger_should_ignore(TG_NAME) IS TRUE) THEN\nIF (TG_OP = \'DELETE\') THEN\nRETURN OLD;\nELSE\nRETURN NEW;\nEND IF;\nEND IF;\nINSERT INTO "scheduling_usergroupsevent" ("group_id", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "user_id") VALUES (NEW."group_id", NEW."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'update\', NEW."id", NEW."user_id"); RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;\nDROP TRIGGER IF EXISTS pgtrigger_update_update_c90d5 ON "auth_user_groups";\nCREATE  TRIGGER pgtrigger_update_update_c90d5\nAFTER UPDATE ON "auth_user_groups"\nFOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)\nEXECUTE PROCEDURE pgtrigger_update_update_c90d5();\nCOMMENT ON TRIGGER pgtrigger_update_update_c90d5 ON "auth_user_groups" IS \'1a7f997b7aa47db442b7d3a3549b18654a4562a3\';',
        'DROP TRIGGER IF EXISTS pgtrigger_update_update_c90d5 ON "auth_user_groups";\nDROP FUNCTION IF EXISTS pgtrigger_update_update_c90d5();',
    ),
    # auth_user_groups: delete_delete
    (
        'CREATE OR REPLACE FUNCTION "public"._pgtrigger_should_ignore(\ntrigger_name NAME\n)\nRETURNS BOOLEAN AS $$\nDECLARE\n_pgtrigger_ignore TEXT[];\n_result BOOLEAN;\nBEGIN\nBEGIN\nSELECT INTO _pgtrigger_ignore\nCURRENT_SETTING(\'pgtrigger.ignore\');\nEXCEPTION WHEN OTHERS THEN\nEND;\nIF _pgtrigger_ignore IS NOT NULL THEN\nSELECT trigger_name = ANY(_pgtrigger_ignore)\nINTO _result;\nRETURN _result;\nELSE\nRETURN FALSE;\nEND IF;\nEND;\n$$ LANGUAGE plpgsql;\nCREATE OR REPLACE FUNCTION pgtrigger_delete_delete_0fa39()\nRETURNS TRIGGER AS $$\nBEGIN\nIF ("public"._pgtrigger_should_ignore(TG_NAME) IS TRUE) THEN\nIF (TG_OP = \'DELETE\') THEN\nRETURN OLD;\nELSE\nRETURN NEW;\nEND IF;\nEND IF;\nINSERT INTO "scheduling_usergroupsevent" ("group_id", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "user_id") VALUES (OLD."group_id", OLD."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'delete\', OLD."id", OLD."user_id"); RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;\nDROP TRIGGER IF EXISTS pgtrigger_delete_delete_0fa39 ON "auth_user_groups";\nCREATE  TRIGGER pgtrigger_delete_delete_0fa39\nAFTER DELETE ON "auth_user_groups"\nFOR EACH ROW\nEXECUTE PROCEDURE pgtrigger_delete_delete_0fa39();\nCOMMENT ON TRIGGER pgtrigger_delete_delete_0fa39 ON "auth_user_groups" IS \'c58eb9c338308b300745628b4b91e48306c9e1f7\';',
        'DROP TRIGGER IF EXISTS pgtrigger_delete_delete_0fa39 ON "auth_user_groups";\nDROP FUNCTION IF EXISTS pgtrigger_delete_delete_0fa39();',
    ),
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for install_sql, _ in TRIGGERS:
            schema_editor.execute(install_sql)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for _, uninstall_sql in TRIGGERS:
            schema_editor.execute(uninstall_sql)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("scheduling", "0007_audit_trail"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
