"""Before `make mutants`: drop the test databases of an earlier run's mutant processes.

A run stopped midway can leave a test's rows behind in them (a test that commits, killed before
its cleanup); each run starts from empty ones, created again by the first test that needs them.
Run with DATABASE_URL naming the run's database.
"""

import os
import re

import psycopg

url = os.environ["DATABASE_URL"]
name = re.sub(r"\?.*$", "", url).rsplit("/", 1)[1]
with psycopg.connect(re.sub(r"/[^/?]+(\?|$)", r"/postgres\1", url, count=1), autocommit=True) as db:
    pattern = f"test_{name}_slot%"
    found = db.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])
    for (database,) in found.fetchall():
        db.execute(f'DROP DATABASE "{database}"')
        print(f"make mutants: dropped {database}")
