from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo data of `make run` (`manage.py seed_demo`): built on every other app, needed by
    none."""

    name = "demo"
    verbose_name = _("Demo data")
    default_auto_field = "django.db.models.BigAutoField"
