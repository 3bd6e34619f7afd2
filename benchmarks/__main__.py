"""`python -m benchmarks`: run every `bench_*.py` module here, in name order."""

import importlib
import sys
from pathlib import Path


def benchmark_modules(directory: Path, package: str) -> list[str]:
    return [f"{package}.{path.stem}" for path in sorted(directory.glob("bench_*.py"))]


def run(directory: Path, package: str) -> int:
    names = benchmark_modules(directory, package)
    if not names:
        print("no benchmark exists yet")
        return 0
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(name).main()
    return 0


if __name__ == "__main__":
    import signal

    import tests.env  # noqa: F401  (sets environment defaults before any module sets Django up)

    # Stopped from outside, a benchmark still drops the scratch databases it created.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    sys.exit(run(Path(__file__).resolve().parent, "benchmarks"))
