"""The tally counts paths attested in their running review cycle (issue 16).

The stored facts gain a bit (rules.facts.ATTESTED_BIT, FACTS_VERSION 2), so the tally's
fingerprint changes: reads count every path directly until the next sweep (or
`manage.py tally --rebuild`) rebuilds the facts and fills this column.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    # After 0019 (written in parallel from 0017) only so the graph has one leaf meanwhile;
    # when merging, 0018 follows 0017 and 0019 follows 0018.
    dependencies = [("registry", "0017_path_facts_autovacuum")]
    operations = [
        migrations.AddField(
            model_name="pathtally",
            name="attested",
            field=models.IntegerField(default=0),
        ),
    ]
