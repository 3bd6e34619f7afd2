from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    # Not "WhatsApp sessions": the app also holds organizations, groups and the audit, and its
    # breadcrumb would read "WhatsApp sessions > WhatsApp sessions".
    verbose_name = _("WhatsApp")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sessions_app import checks, signals  # noqa: F401  (registers them)
