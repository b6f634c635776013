"""Every API key belongs to an organisation (docs/licences.md): existing keys get one of their own name (keys of
the same name share it), then the column becomes required."""
import django.db.models.deletion
from django.db import migrations, models


def organisations_for_existing_keys(apps, schema_editor):
    APIKey = apps.get_model("keys", "APIKey")
    Organisation = apps.get_model("registry", "Organisation")
    for api_key in APIKey.objects.filter(organisation__isnull=True).only("pk", "name"):
        organisation, _ = Organisation.objects.get_or_create(name=(api_key.name or api_key.pk)[:200])
        APIKey.objects.filter(pk=api_key.pk).update(organisation=organisation)


class Migration(migrations.Migration):

    dependencies = [
        ('keys', '0003_holder_tokens'),
        ('registry', '0004_organisation'),
    ]

    operations = [
        migrations.AddField(
            model_name='apikey',
            name='organisation',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='api_keys',
                                    to='registry.organisation', verbose_name='organisation'),
        ),
        migrations.RunPython(organisations_for_existing_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='apikey',
            name='organisation',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='api_keys',
                                    to='registry.organisation', verbose_name='organisation'),
        ),
    ]
