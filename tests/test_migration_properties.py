"""Property: after any sequence of status reports, nothing that should follow a reconnect is left
on a superseded session, and no row of any table is lost or created."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, WhatsAppGroup, WhatsAppSession
from sessions_app.selectors import with_reference_counts
from sessions_app.services.migration import live_successor, sweep_references
from sessions_app.services.status import apply_status_report

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PHONES = ["+5511911110000", "+5511922220000"]
JIDS = ["120363000000000001@g.us", "120363000000000002@g.us", "120363000000000003@g.us"]
SESSION_STATUSES = list(WhatsAppSession.Status.values)

sessions_strategy = st.lists(
    st.tuples(
        st.integers(0, 1),  # organization
        st.integers(0, len(PHONES) - 1),  # phone
        st.sampled_from(SESSION_STATUSES),
    ),
    min_size=1,
    max_size=5,
)
references_strategy = st.lists(
    st.tuples(
        st.sampled_from(["workshop", "webinar", "campaign", "group", "community"]),
        st.integers(0, 4),  # session, modulo the number of sessions
        st.integers(0, 6),  # a status or a jid, as the kind needs
    ),
    max_size=14,
)
reports_strategy = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from(SESSION_STATUSES), st.booleans()),
    min_size=1,
    max_size=8,
)


def build(session_specs, reference_specs):
    now = timezone.now()
    organizations = Organization.objects.bulk_create(
        Organization(name=f"Org {i}") for i in range(2)
    )
    # Inserted without signals, in their own order of creation: the reports below drive the test.
    sessions = WhatsAppSession.objects.bulk_create(
        WhatsAppSession(
            organization=organizations[org],
            phone_number=PHONES[phone],
            status=status,
            created_at=now + dt.timedelta(seconds=i),
        )
        for i, (org, phone, status) in enumerate(session_specs)
    )
    for kind, session_index, n in reference_specs:
        session = sessions[session_index % len(sessions)]
        org = session.organization
        if kind in ("workshop", "webinar"):
            model = Workshop if kind == "workshop" else Webinar
            event = model.objects.create(
                organization=org, title=kind, starts_at=now, whatsapp_session=session
            )
            if kind == "workshop":
                group, _ = WhatsAppGroup.objects.get_or_create(
                    session=session, group_jid=JIDS[n % len(JIDS)]
                )
                ScheduledWhatsAppMessage.objects.create(
                    group=group,
                    workshop=event,
                    body="reminder",
                    send_at=now,
                    status=ScheduledWhatsAppMessage.Status.values[n % 5],
                )
        elif kind == "campaign":
            NotificationCampaign.objects.create(
                organization=org,
                name="campaign",
                session=session,
                status=NotificationCampaign.Status.values[n % 7],
            )
        elif kind == "group":
            WhatsAppGroup.objects.get_or_create(session=session, group_jid=JIDS[n % len(JIDS)])
        else:
            Organization.objects.filter(pk=org.pk).update(community_session=session)
    return sessions


def every_row():
    """The ids of every row of each table the migration touches (but the audit it adds)."""
    return {
        model._meta.label: set(model.objects.values_list("pk", flat=True))
        for model in (
            Organization,
            WhatsAppSession,
            WhatsAppGroup,
            Workshop,
            Webinar,
            NotificationCampaign,
            ScheduledWhatsAppMessage,
        )
    }


def left_on_superseded_sessions():
    superseded = WhatsAppSession.objects.filter(superseded_by__isnull=False)
    return {
        "workshops": Workshop.objects.filter(whatsapp_session__in=superseded).count(),
        "webinars": Webinar.objects.filter(whatsapp_session__in=superseded).count(),
        "campaigns": NotificationCampaign.objects.filter(
            session__in=superseded, status__in=NotificationCampaign.ACTIVE_STATUSES
        ).count(),
        "communities": Organization.objects.filter(community_session__in=superseded).count(),
        "pending messages": ScheduledWhatsAppMessage.objects.filter(
            group__session__in=superseded, status=ScheduledWhatsAppMessage.Status.PENDING
        ).count(),
    }


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sessions_strategy, references_strategy, reports_strategy)
def test_status_reports_leave_nothing_on_superseded_sessions(
    session_specs, reference_specs, reports
):
    # Each example runs in a transaction of its own, rolled back at the end.
    with transaction.atomic():
        sessions = build(session_specs, reference_specs)
        rows_before = every_row()

        for session_index, status, with_phone in reports:
            session = sessions[session_index % len(sessions)]
            apply_status_report(session, status, session.phone_number if with_phone else None)

        assert left_on_superseded_sessions() == dict.fromkeys(left_on_superseded_sessions(), 0)
        assert every_row() == rows_before
        for session in WhatsAppSession.objects.exclude(superseded_by=None):
            assert session.superseded_by.superseded_by_id != session.pk, "a supersede cycle"
            assert session.superseded_by.organization_id == session.organization_id
            assert session.superseded_by.phone_number == session.phone_number
        transaction.set_rollback(True)


events_strategy = st.lists(
    st.one_of(
        st.tuples(
            st.just("report"), st.integers(0, 4), st.sampled_from(SESSION_STATUSES), st.booleans()
        ),
        st.tuples(st.just("attach"), st.integers(0, 4)),
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sessions_strategy, references_strategy, events_strategy)
def test_after_the_sweep_only_phones_not_yet_back_keep_rows_on_superseded_sessions(
    session_specs, reference_specs, events
):
    """Rows attached to a session after it was superseded, and connects the signal never saw,
    are finished by the sweep: what stays behind waits for a phone that has not reconnected."""
    with transaction.atomic():
        sessions = build(session_specs, reference_specs)
        attached = set()
        for event in events:
            session = sessions[event[1] % len(sessions)]
            if event[0] == "attach":
                late = Workshop.objects.create(
                    organization_id=session.organization_id,
                    title="attached late",
                    starts_at=timezone.now(),
                    whatsapp_session=session,
                )
                attached.add(late.pk)
            else:
                _, _, status, with_phone = event
                apply_status_report(session, status, session.phone_number if with_phone else None)
        rows_before = every_row()

        report = sweep_references()

        assert report.failures == []
        assert every_row() == rows_before
        assert attached <= rows_before["scheduling.Workshop"]
        for session in with_reference_counts(
            WhatsAppSession.objects.exclude(superseded_by=None).exclude(status="connected")
        ):
            if session.reference_count:
                assert live_successor(session) is None, session
        assert sweep_references().results == []
        transaction.set_rollback(True)
