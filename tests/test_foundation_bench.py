import os
import textwrap

import pytest

from benchmarks.__main__ import run


def test_without_benchmarks_it_says_so(tmp_path, capsys):
    assert run(tmp_path, "unused") == 0

    assert capsys.readouterr().out == "no benchmark exists yet\n"


def test_runs_every_bench_module_in_name_order_and_nothing_else(tmp_path, monkeypatch, capsys):
    package = tmp_path / "sample_benchmarks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ["bench_writes", "bench_reads", "fixtures"]:
        (package / f"{name}.py").write_text(
            textwrap.dedent(f"""
                def main():
                    print("ran {name}")
            """)
        )
    monkeypatch.syspath_prepend(str(tmp_path))

    run(package, "sample_benchmarks")

    assert capsys.readouterr().out.splitlines() == [
        "== sample_benchmarks.bench_reads",
        "ran bench_reads",
        "== sample_benchmarks.bench_writes",
        "ran bench_writes",
    ]


@pytest.mark.usefixtures("postgres_only")
def test_a_scratch_database_is_named_after_the_configured_one_and_never_drops_anothers(
    django_db_blocker,
):
    from django.conf import settings
    from django.db import connection

    from benchmarks import scratch_database

    configured = settings.DATABASES["default"]["NAME"]
    taken = f"{configured}_bench_probe_{os.getpid()}"[:63]

    def exists(name):
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cursor.fetchone() is not None

    with django_db_blocker.unblock():
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{taken}"')
        try:
            with scratch_database("probe") as name:
                assert name.startswith(f"{configured}_bench_probe_")
                assert name != taken
                assert settings.DATABASES["default"]["NAME"] == name
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM whatsapp_sessions")
                    assert cursor.fetchone() == (0,)
            assert settings.DATABASES["default"]["NAME"] == configured
            assert not exists(name)
            assert exists(taken)
        finally:
            with connection._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{taken}"')
