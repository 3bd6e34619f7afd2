import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_need_no_new_migration(capsys):
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=1)
    except SystemExit:
        pytest.fail(f"models changed without a migration:\n{capsys.readouterr().out}")

    assert "No changes detected" in capsys.readouterr().out
