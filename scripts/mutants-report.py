"""After `mutmut run` (`make mutants`): the counts, then each surviving mutant with its diff.

Run from the project root. Survivors that docs/mutants.md lists (judged equivalent, or not worth
a test, with the reason) are counted, not shown again; every other survivor is shown in full,
to be killed by a test or judged there.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

JUDGED = Path("docs/mutants.md")
# What the counts show, in this order; any other status is counted after them.
SHOWN = ("killed", "survived", "timeout", "suspicious", "no tests")


def checked_mutants() -> list[tuple[Path, str, str]]:
    """(source file, mutant name, status) of every mutant this run tested."""
    found = []
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        source = meta.relative_to("mutants").with_suffix("")
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, exit_code in sorted(exit_codes.items()):
            if exit_code is not None:
                found.append((source, name, status_by_exit_code[exit_code]))
    return found


def judged_names() -> set[str]:
    """The mutant names docs/mutants.md gives a reason for."""
    if not JUDGED.exists():
        return set()
    return set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", JUDGED.read_text()))


def main() -> None:
    mutants = checked_mutants()
    counts = Counter(status for _source, _name, status in mutants)
    judged = judged_names()
    survivors = [(source, name) for source, name, status in mutants if status == "survived"]
    unjudged = [(source, name) for source, name in survivors if name not in judged]

    for source, name in unjudged:
        print(f"\n# {name}: survived")
        print(get_diff_for_mutant(name, path=source))
    others = sorted(set(counts) - set(SHOWN))
    print("\nMutants: " + ", ".join(f"{counts[s]} {s}" for s in (*SHOWN, *others) if counts[s]))
    print(f"Total: {len(mutants)}")
    print(
        f"Survivors: {len(survivors) - len(unjudged)} judged in {JUDGED}, "
        f"{len(unjudged)} not (shown above)"
    )
    # A judged line outlives its mutant when a test starts killing it, or when the function
    # changed and mutmut numbers its mutants anew: such a line can go.
    status_of = {name: status for _source, name, status in mutants}
    no_longer = sorted(n for n in judged if n in status_of and status_of[n] != "survived")
    not_run = sorted(n for n in judged if n not in status_of)
    if no_longer:
        print(f"Judged in {JUDGED} but not surviving now: {', '.join(no_longer)}")
    if not_run:
        print(f"Judged in {JUDGED} but not in this run: {len(not_run)}")
    for _source, name, status in mutants:
        if status not in ("killed", "survived"):
            print(f"  {status}: {name}")


if __name__ == "__main__":
    main()
