"""A migration's counts as staff read them: the columns and labels of the reference registry."""

from django.utils.translation import gettext

from sessions_app.references import count_columns


def summarize_counts(counts: dict) -> str:
    """`Workshops: 2, Pending messages: 1`, leaving out zeros; "nothing" when all are zero."""
    parts = [
        f"{column.label}: {count}"
        for column, count in zip(count_columns(), count_list(counts), strict=True)
        if count
    ]
    return ", ".join(parts) or gettext("nothing")


def count_labels() -> list[str]:
    """The heading of each column of `count_list`."""
    return [column.label for column in count_columns()]


def count_list(counts: dict) -> list[int]:
    """One number per column of `sessions_app.references.count_columns`."""
    return [sum(counts.get(key, 0) for key in column.keys) for column in count_columns()]
