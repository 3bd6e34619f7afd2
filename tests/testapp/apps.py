from django.apps import AppConfig


class TestAppConfig(AppConfig):
    """An app of the test settings only: a table that points at sessions, as a new app's would."""

    name = "tests.testapp"
    label = "testapp"
    default_auto_field = "django.db.models.BigAutoField"
