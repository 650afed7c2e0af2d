from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0006_lead_hashes_backfill"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    models.Q(("phone_hash", ""), _negated=True),
                    models.Q(("stage", "closed"), _negated=True),
                ),
                fields=("phone_hash",),
                name="lead_open_unique_phone",
            ),
        ),
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    models.Q(("email_hash", ""), _negated=True),
                    models.Q(("stage", "closed"), _negated=True),
                ),
                fields=("email_hash",),
                name="lead_open_unique_email",
            ),
        ),
    ]
