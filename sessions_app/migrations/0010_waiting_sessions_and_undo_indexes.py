"""Indexes for what the sweep looks for when nothing is left to move: the sessions waiting for
their phone to reconnect, and the undos that keep a session from the automatic path. Both stay
small however many sessions were superseded and however long the audit grows, where the scans
they replace read every disconnected session and every migration."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sessions_app', '0009_sessions_to_sweep'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='sessionmigration',
            index=models.Index(condition=models.Q(('trigger', 'undo')), fields=['new_session'], name='session_migration_undo'),
        ),
        migrations.AddIndex(
            model_name='whatsappsession',
            index=models.Index(condition=models.Q(('status', 'disconnected'), ('superseded_by__isnull', True)), fields=['organization', 'phone_number'], name='wa_session_waiting'),
        ),
    ]
