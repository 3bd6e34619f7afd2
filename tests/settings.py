"""The project's settings plus `tests.testapp`, an app with a table that points at sessions."""

from config.settings import *  # noqa: F403
from config.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]

# The test database is named once: pytest run again in the same process (as mutmut does for
# every mutant) keeps using it, where Django's default would prefix "test_" once more each time.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["TEST"] = {
        **DATABASES["default"].get("TEST", {}),
        "NAME": f"test_{DATABASES['default']['NAME']}",
    }
