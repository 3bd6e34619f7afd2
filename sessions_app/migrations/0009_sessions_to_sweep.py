"""The sessions the sweep looks at: superseded sessions that rows may point at again.

PostgreSQL's triggers write the notes (`sessions_app.sweep_marks`); they are generated from the
references the apps declare and installed after `migrate`, which notes every superseded session
once, since nothing noted the rows written before. Unapplied, this migration drops those
triggers first: they write to the table it drops.
"""

from django.db import migrations, models

# The prefix of every function `sessions_app.sweep_marks` installs; dropping one drops its
# triggers.
DROP_TRIGGERS = """
DO $$
DECLARE
  function regprocedure;
BEGIN
  FOR function IN
    SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = current_schema() AND starts_with(p.proname, 'sweep_note_')
  LOOP
    EXECUTE format('DROP FUNCTION %s CASCADE', function);
  END LOOP;
END
$$
"""


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGERS, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('sessions_app', '0008_verbose_names_for_translation'),
    ]

    operations = [
        migrations.CreateModel(
            name='SessionToSweep',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('session_id', models.UUIDField(verbose_name='session')),
                ('found_empty_xmax', models.BigIntegerField(blank=True, null=True, verbose_name='found empty at transaction')),
            ],
            options={
                'verbose_name': 'session to sweep',
                'verbose_name_plural': 'sessions to sweep',
                'db_table': 'sessions_to_sweep',
                'default_permissions': (),
                'indexes': [models.Index(fields=['session_id'], name='session_to_sweep_session')],
            },
        ),
        migrations.RunPython(migrations.RunPython.noop, drop_triggers),
    ]
