"""The project's settings plus `tests.testapp`, an app with a table that points at sessions."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
