import textwrap

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
