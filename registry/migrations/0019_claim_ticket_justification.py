from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0018_attested_in_cycle"),
    ]

    operations = [
        migrations.AddField(
            model_name="claim",
            name="ticket_url",
            field=models.URLField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="claim",
            name="justification",
            field=models.TextField(blank=True),
        ),
    ]
