"""A migration's counts as staff read them: one column per table, with its label."""

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, WhatsAppGroup

# What a migration reports, in the order staff read it: (counts keys, label, model of the ids).
# "Pending messages" are the rows the session page's panel counts: re-pointed to a merged
# group's successor, or moved with their group (see sessions_app.references).
MIGRATION_COUNT_COLUMNS = [
    (("workshops",), "Workshops", Workshop),
    (("webinars",), "Webinars", Webinar),
    (("campaigns",), "Active campaigns", NotificationCampaign),
    (("organizations",), "Community of organizations", Organization),
    (("groups_moved",), "Groups moved", WhatsAppGroup),
    (("groups_merged",), "Groups merged", WhatsAppGroup),
    (
        ("scheduled_messages", "messages_with_groups"),
        "Pending messages",
        ScheduledWhatsAppMessage,
    ),
]
# How a pending message moved, shown beside it on the audit page.
HOW_MESSAGES_MOVED = {
    "scheduled_messages": "re-pointed to the new session's group",
    "messages_with_groups": "with its group",
}


def summarize_counts(counts: dict) -> str:
    """`Workshops: 2, Pending messages: 1`, leaving out zeros; "nothing" when all are zero."""
    parts = [
        f"{label}: {count}"
        for label, count in zip(
            (label for _keys, label, _model in MIGRATION_COUNT_COLUMNS),
            count_list(counts),
            strict=True,
        )
        if count
    ]
    return ", ".join(parts) or "nothing"


def count_list(counts: dict) -> list[int]:
    """One number per column of `MIGRATION_COUNT_COLUMNS`."""
    return [
        sum(counts.get(key, 0) for key in keys) for keys, _label, _model in MIGRATION_COUNT_COLUMNS
    ]
