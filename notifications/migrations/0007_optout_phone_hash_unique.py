from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0006_hashes_backfill"),
    ]

    operations = [
        migrations.AlterField(
            model_name="optout",
            name="phone_hash",
            field=models.CharField(max_length=64, unique=True),
        ),
    ]
