"""Organisations get a public handle, `code` (what a holder names as a licence's licensee), made from the name."""
from django.db import migrations, models
from django.utils.text import slugify


def fill_codes(apps, schema_editor):
    Organisation = apps.get_model("registry", "Organisation")
    taken = set()
    for organisation in Organisation.objects.order_by("created_at", "id"):
        base = slugify(organisation.name)[:56].strip("-") or "org"
        code, n = base, 1
        while code in taken:
            n += 1
            code = f"{base}-{n}"
        taken.add(code)
        organisation.code = code
        organisation.save(update_fields=["code"])


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_organisation")]
    operations = [
        migrations.AddField("organisation", "code", models.SlugField(
            "code", max_length=64, blank=True, null=True, db_index=False)),
        migrations.RunPython(fill_codes, migrations.RunPython.noop),
        migrations.AlterField("organisation", "code", models.SlugField(
            "code", max_length=64, unique=True, blank=True, help_text=(
                "The organisation's public handle: what a holder names as a licence's licensee. Made from the "
                "name when left empty."))),
    ]
