"""People's accounts at the identity provider, the memberships it manages, and the CI
trust rules through which pipelines act as their team's integration (issue 17)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0020_scim"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExternalIdentity",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("issuer", models.CharField(max_length=300)),
                ("subject", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField()),
                ("last_sign_in_at", models.DateTimeField()),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="external_identities",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("issuer", "subject"), name="one_user_per_provider_subject"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ProviderMembership",
            fields=[
                (
                    "membership",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="provider",
                        serialize=False,
                        to="registry.membership",
                    ),
                ),
                ("issuer", models.CharField(max_length=300)),
                ("created_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="CiTrustRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                ("issuer", models.CharField(max_length=300)),
                ("conditions", models.JSONField(default=dict)),
                ("created_at", models.DateTimeField()),
                ("created_by_label", models.CharField(max_length=200)),
                ("retired_at", models.DateTimeField(blank=True, null=True)),
                (
                    "grant",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ci_trust_rule",
                        to="registry.apitoken",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ci_trust_rules",
                        to="registry.team",
                    ),
                ),
            ],
            options={
                "ordering": ["team__slug", "name"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("retired_at__isnull", True)),
                        fields=["issuer"],
                        name="ci_trust_rule_live_by_issuer",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("retired_at__isnull", True)),
                        fields=("team", "name"),
                        name="ci_trust_rule_name_unique_per_team",
                    )
                ],
            },
        ),
    ]
