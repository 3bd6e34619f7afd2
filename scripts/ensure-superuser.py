"""Make sure the superuser `make run` prints exists, and print its login on one line.

The password comes from DJANGO_SUPERUSER_PASSWORD, or is generated when the user is created and
shown that once: no password is ever fixed in the repository.
"""

import os
import secrets
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402


def reset_command(username: str) -> str:
    """The command that changes the password of this user in this same database."""
    database = ""
    if os.environ.get("RUN_DATABASE_URL"):
        database = f"DATABASE_URL={shlex.quote(os.environ['RUN_DATABASE_URL'])} "
    return f"DJANGO_DEBUG=1 {database}.venv/bin/python manage.py changepassword {username}"


def main() -> None:
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or None
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username, email=f"{username}@example.org")
    user.is_active = user.is_staff = user.is_superuser = True
    if password is not None:
        user.set_password(password)
        user.save()
        print(f"{username} / the password in DJANGO_SUPERUSER_PASSWORD")
    elif created:
        generated = secrets.token_urlsafe(12)
        user.set_password(generated)
        user.save()
        print(f"{username} / {generated}  (generated now and shown only this once)")
    else:
        user.save()
        print(
            f"{username} / its existing password (kept; reset it with "
            f"`{reset_command(username)}`, or start with DJANGO_SUPERUSER_PASSWORD set)"
        )


if __name__ == "__main__":
    main()
