from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    # Not "WhatsApp sessions": the app also holds organizations, groups and the audit, and its
    # breadcrumb would read "WhatsApp sessions > WhatsApp sessions".
    verbose_name = _("WhatsApp")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sessions_app import checks, signals  # noqa: F401  (registers them)

        # After the whole run, when every app's tables exist.
        post_migrate.connect(_install_sweep_triggers, sender=self)


def _install_sweep_triggers(sender, using: str, **kwargs) -> None:
    from sessions_app import sweep_marks

    sweep_marks.install(using)
