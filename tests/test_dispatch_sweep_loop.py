"""A running `process_message_queue --loop` hands what slipped onto a superseded session to the
live session every `WHATSAPP_DISPATCH_SWEEP_EVERY_PASSES` passes, and never when that is 0."""

import signal

import pytest

from scheduling.models import DispatcherHeartbeat, NotificationCampaign
from sessions_app.models import WhatsAppSession
from tests import factories
from tests.fake_waha import FakeWaha
from tests.migration_helpers import PHONE, Campaign, Status
from tests.test_dispatch_processes import dispatcher, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
    pytest.mark.slow,
]


def campaign_left_on_a_superseded_session() -> tuple[NotificationCampaign, WhatsAppSession]:
    """A phone reconnected; then a campaign was written onto the old session by a path that
    does not follow the chain (a script, a bulk import)."""
    old = factories.WhatsAppSessionFactory(phone_number=PHONE, status=Status.DISCONNECTED)
    new = factories.WhatsAppSessionFactory(
        organization=old.organization, phone_number=PHONE, status=Status.CONNECTED
    )
    WhatsAppSession.objects.filter(pk=old.pk).update(superseded_by=new)
    campaign = factories.NotificationCampaignFactory(
        organization=old.organization, session=old, status=Campaign.PENDING
    )
    return campaign, new


def passes_so_far() -> int:
    return sum(DispatcherHeartbeat.objects.values_list("passes", flat=True))


def run_loop_until(waha: FakeWaha, *, sweep_every: int, condition) -> tuple[int, str, str]:
    process = dispatcher(
        waha,
        "--loop",
        "--interval",
        "0.05",
        env={
            "WHATSAPP_DISPATCH_SWEEP_EVERY_PASSES": str(sweep_every),
            "DJANGO_LOG_LEVEL": "INFO",
        },
    )
    try:
        wait_until(condition, timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    return process.returncode, out, err


def test_the_looping_dispatcher_sweeps_every_n_passes():
    campaign, new = campaign_left_on_a_superseded_session()

    def moved() -> bool:
        return NotificationCampaign.objects.get(pk=campaign.pk).session_id == new.pk

    with FakeWaha() as waha:
        returncode, _, err = run_loop_until(waha, sweep_every=3, condition=moved)

    assert returncode == 0, err
    assert f"Sweep moved what was left on superseded session {campaign.session_id}" in err
    # Not on the first pass: the sweep waits for its turn.
    assert passes_so_far() >= 2


def test_a_dispatcher_with_the_sweep_turned_off_leaves_it_to_the_command():
    campaign, _ = campaign_left_on_a_superseded_session()

    with FakeWaha() as waha:
        returncode, _, err = run_loop_until(
            waha, sweep_every=0, condition=lambda: passes_so_far() >= 10
        )

    assert returncode == 0, err
    assert NotificationCampaign.objects.get(pk=campaign.pk).session_id == campaign.session_id
    assert "Sweep moved" not in err
