"""Reconnects as a gateway makes them, for the property tests of the migration.

A story: one or two lines, each a phone of an organization (the same phone also belongs to a
second organization, and nothing may cross between the two). Each line is a chain of gateway
sessions, each paired by staff without a phone; the gateway names the phone when the session
reports WORKING, through WAHA's signed webhook or through `apply_status_report` (as polling and
staff do). Rows are attached along the way, before and after the moves, and the gateway lists
each session's groups, which the product re-syncs after each connect.

The order of a reconnect is drawn: the old session stops before the new one connects, or its
STOPPED arrives late (the new session has synced its groups by then, so groups merge), or it
never stops. A pairing may be abandoned, staff may sync a session by hand, and at the end a
line's phone may drop or its gateway session be scanned with another phone; such a phone pairs
again later (the second part of a story).

With `bypass=True` a story also does what the automatic path never sees: rows attached by
`QuerySet` writes (no `attach_to_live_sessions`) and connects written by `QuerySet.update`;
and every line's phone goes away before it pairs again.

`Story` runs the steps and counts, in `seen`, what they reached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.test import TestCase
from hypothesis import event
from hypothesis import strategies as st

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.gateway import GatewayGroup, locmem
from sessions_app.gateway.base import SESSION_NAME_KEY, WAHA_STATUS_MAP
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession
from sessions_app.services.groups import GroupSyncError, sync_groups
from sessions_app.services.status import apply_status_report
from sessions_app.services.supersession import attach_to_live_sessions

WEBHOOK_SECRET = "property-webhook-secret"
PHONES = ("+5511911110000", "+5511922220000")
# (organization, phone): the first phone belongs to both organizations.
LINES = ((0, PHONES[0]), (0, PHONES[1]), (1, PHONES[0]))
JIDS = tuple(f"12036300000000000{i}@g.us" for i in range(4))
T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)

Status = WhatsAppSession.Status
VIAS = ("webhook", "apply_status_report")


@dataclass
class Reach:
    """What the examples of a property test reached: per case, how many examples reached it.
    A property that never met its case proves nothing."""

    cases: Counter = field(default_factory=Counter)
    examples: int = 0

    def record(self, outcome: dict[str, int]) -> None:
        """One example's outcome (case: reached or not); each case reached is also reported to
        hypothesis as an event."""
        for case in sorted(case for case, reached in outcome.items() if reached):
            event(f"reached: {case}")
            self.cases[case] += 1
        self.examples += 1

    def assert_reached(self, *, most=(), some=()) -> None:
        """Each case in `most` was reached by at least a third of the examples, and each case
        in `some` by at least one."""
        summary = ", ".join(f"{case} {n}/{self.examples}" for case, n in sorted(self.cases.items()))
        print(f"reached: {summary}")  # shown with -s, or when the test fails
        assert self.examples > 0
        for case in most:
            reached = self.cases[case]
            assert reached * 3 >= self.examples, f"{case}: {reached} of {self.examples} examples"
        for case in some:
            assert self.cases[case] > 0, f"{case}: no example reached it ({summary})"


def gateway_lists(name: str, jids) -> None:
    """The in-memory gateway lists the groups `jids` for its session `name` from now on."""
    locmem.groups[name] = [GatewayGroup(jid, f"Group {jid[-4:]}") for jid in sorted(jids)]


def waha_signature(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """WAHA's `X-Webhook-Hmac` as WAHA computes it: HMAC-SHA512 of the raw body, in hex."""
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def post_waha_status(
    client,
    *,
    name: str,
    status: str,
    at: dt.datetime,
    me: dict | None = None,
    event_id: str | None = None,
) -> dict:
    """Post a signed `session.status` event to the WAHA webhook; its JSON answer."""
    body = json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "timestamp": int(at.timestamp() * 1000),
            "event": "session.status",
            "session": name,
            "me": me,
            "payload": {"status": status},
        }
    ).encode()
    response = client.post(
        "/webhooks/whatsapp/",
        data=body,
        content_type="application/json",
        HTTP_X_WEBHOOK_HMAC=waha_signature(body),
    )
    assert response.status_code == 200, response.content
    return response.json()


def waha_me(phone: str, shape: int) -> dict:
    """WAHA's `me` for `phone`, in one of the shapes its engines send."""
    digits = phone.lstrip("+")
    return [
        {"id": f"{digits}@c.us", "pushName": "Front desk"},
        {"id": f"{digits}@s.whatsapp.net"},
        # Engines on linked identities: the id is not a phone, the JID with its device is.
        {"id": "99887766554433@lid", "jid": f"{digits}:12@s.whatsapp.net"},
    ][shape % 3]


def reported_phone(phone: str, shape: int) -> str:
    """`phone` in one of the shapes a gateway hands to `apply_status_report`."""
    digits = phone.lstrip("+")
    return [phone, digits, f"{digits}@c.us", f"{digits}:3@s.whatsapp.net"][shape % 4]


# Steps --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Staff pair session `index` of `line`: no phone yet; the gateway will list `groups`."""

    line: int
    index: int
    groups: frozenset[str]


@dataclass(frozen=True)
class Report:
    """The gateway reports `status` (WAHA's name) for a session; WORKING names `phone`."""

    line: int
    index: int
    status: str
    via: str
    phone: str | None = None
    shape: int = 0


@dataclass(frozen=True)
class ConnectWithoutSignal:
    """A connect written with `QuerySet.update`, which sends no signal."""

    line: int
    index: int


@dataclass(frozen=True)
class Attach:
    """Staff attach a row to a session, superseded or not (`index` None: the line's oldest
    superseded session, if any); `raw` skips the product's follow."""

    line: int
    index: int | None
    kind: str
    status: str = ""
    n: int = 0
    raw: bool = False


@dataclass(frozen=True)
class Sync:
    """Staff sync a session's groups by hand."""

    line: int
    index: int


@dataclass(frozen=True)
class Relist:
    """The gateway lists other groups for a session now (the phone joined or left some)."""

    line: int
    index: int
    groups: frozenset[str]


CAMPAIGN_STATUSES = st.sampled_from(NotificationCampaign.Status.values)
MESSAGE_STATUSES = st.sampled_from(["pending"] * 4 + ["sending", "sent", "failed", "cancelled"])
ATTACH_KINDS = st.sampled_from(["message"] * 4 + ["workshop", "webinar", "campaign", "community"])


@st.composite
def _attachment(draw, line, index, *, bypass):
    kind = draw(ATTACH_KINDS)
    status = ""
    if kind == "campaign":
        status = draw(CAMPAIGN_STATUSES)
    elif kind == "message":
        status = draw(MESSAGE_STATUSES)
    raw = bypass and draw(st.integers(0, 3)) > 0
    return Attach(line, index, kind, status, draw(st.integers(0, 3)), raw)


@st.composite
def _attachments(draw, line, upto, *, min_size, max_size, bypass):
    count = draw(st.integers(min_size, max_size))
    return [
        draw(_attachment(line, draw(st.integers(0, upto)), bypass=bypass)) for _ in range(count)
    ]


@st.composite
def _listing(draw, groups: frozenset[str]) -> frozenset[str]:
    """What the gateway lists for the phone's next session: mostly the same groups."""
    change = draw(st.sampled_from(["same", "same", "same", "join", "leave"]))
    if change == "join" and len(groups) < len(JIDS):
        return groups | {draw(st.sampled_from(sorted(set(JIDS) - groups)))}
    if change == "leave" and len(groups) > 1:
        return groups - {draw(st.sampled_from(sorted(groups)))}
    return groups


@st.composite
def _line_story(draw, line: int, *, bypass: bool) -> tuple[list, list]:
    """A line's steps, and what happens later: a phone left without a live session pairs
    again."""
    steps: list = []
    phone = LINES[line][1]

    def one_in(n: int) -> bool:
        return draw(st.integers(1, n)) == n

    def via() -> str:
        return draw(st.sampled_from(VIAS))

    def waiting(index, steps):
        for status in ("STARTING", "SCAN_QR_CODE"):
            if draw(st.booleans()):
                steps.append(Report(line, index, status, via()))

    def connect(index, steps):
        waiting(index, steps)
        if bypass and one_in(4):
            steps.append(ConnectWithoutSignal(line, index))
        else:
            steps.append(Report(line, index, "WORKING", via(), phone, draw(st.integers(0, 11))))

    def attachments(upto, min_size, max_size=3):
        return draw(_attachments(line, upto, min_size=min_size, max_size=max_size, bypass=bypass))

    groups = draw(st.frozensets(st.sampled_from(JIDS), min_size=1, max_size=3))
    steps.append(Pair(line, 0, groups))
    connect(0, steps)
    steps += attachments(0, min_size=2, max_size=7)
    live = [0]  # the sessions connected now, oldest first
    for index in range(1, draw(st.integers(1, 3)) + 1):
        groups = draw(_listing(groups))
        steps.append(Pair(line, index, groups))
        old = live[-1] if live else None
        # The old session stops before the new one connects, or its STOPPED arrives late, or it
        # stays connected (a linked device): drawn as often as each other.
        when = draw(st.sampled_from(["before", "late", "before", "late", "never"]))
        if old is None:
            when = "never"
        else:
            stop = Report(line, old, draw(st.sampled_from(["STOPPED", "FAILED"])), via())
        if when == "before":
            steps.append(stop)
            live.remove(old)
        if one_in(6):  # the pairing is abandoned
            waiting(index, steps)
            steps.append(Report(line, index, "STOPPED", via()))
        else:
            connect(index, steps)
            live.append(index)
        if when == "late":
            steps.append(stop)
            live.remove(old)
        if when != "never" and one_in(3):
            steps.append(stop)  # the gateway reports the old session stopped once more
        steps += attachments(index, min_size=int(bypass))
        if one_in(5):
            steps.append(Sync(line, draw(st.integers(0, index))))
    # With `bypass`, every phone goes away for a while, and rows are attached behind the
    # product's back meanwhile: what the sweep finds then waits, what it finds after the phone
    # is back, it finishes.
    ending = draw(
        st.sampled_from(
            ["drops", "rescanned"] if bypass else ["stays", "stays", "drops", "rescanned"]
        )
    )
    if live and ending == "drops":
        # The phone drops and is not paired again (yet).
        steps.append(Report(line, live.pop(), "STOPPED", via()))
    elif live and ending == "rescanned":
        # The line's gateway session is scanned with another phone.
        other = PHONES[1] if phone == PHONES[0] else PHONES[0]
        steps.append(Report(line, live.pop(), "WORKING", via(), other, draw(st.integers(0, 11))))
    steps += attachments(index, min_size=int(bypass))
    # Staff pick an old session of the phone for a new row.
    steps.append(draw(_attachment(line, None, bypass=bypass)))
    later: list = []
    if not live:
        index += 1
        later.append(Pair(line, index, draw(_listing(groups))))
        connect(index, later)
        later += attachments(index, min_size=0)
    return steps, later


def _interleaved(draw, per_line: dict[int, list]) -> list:
    order = draw(st.permutations([line for line, steps in per_line.items() for _ in steps]))
    cursors: Counter = Counter()
    steps = []
    for line in order:
        steps.append(per_line[line][cursors[line]])
        cursors[line] += 1
    return steps


@st.composite
def stories(draw, *, bypass: bool = False) -> tuple[list, list]:
    """The steps of one or two lines, interleaved, each line's in its own order; and, apart,
    what happens later (phones left without a live session pair again)."""
    lines = draw(st.lists(st.sampled_from(range(len(LINES))), min_size=1, max_size=2, unique=True))
    per_line = {line: draw(_line_story(line, bypass=bypass)) for line in lines}
    return (
        _interleaved(draw, {line: now for line, (now, _) in per_line.items()}),
        _interleaved(draw, {line: later for line, (_, later) in per_line.items()}),
    )


# Running a story ----------------------------------------------------------------------------


@dataclass
class Attached:
    """A row a step attached, and where it was attached: `session` for events and campaigns,
    `group` (and its `group_jid`) for messages."""

    model: type
    pk: object
    session: object
    status: str = ""
    group: object = None
    group_jid: str = ""


@dataclass
class Story:
    """Runs steps against the database as the gateway and staff would; records what it did."""

    client: object
    organizations: list[Organization] = field(default_factory=list)
    sessions: dict[tuple[int, int], object] = field(default_factory=dict)
    names: dict[object, str] = field(default_factory=dict)
    rows: list[Attached] = field(default_factory=list)
    communities: dict[object, object] = field(default_factory=dict)
    # What the steps reached: one count per kind of thing that happened.
    seen: Counter = field(default_factory=Counter)
    clock: dt.datetime = T0

    def __post_init__(self) -> None:
        locmem.reset()
        self.organizations = Organization.objects.bulk_create(
            Organization(name=f"Org {i}") for i in range(2)
        )

    def run(self, steps: list) -> None:
        for step in steps:
            self.clock += dt.timedelta(seconds=1)
            # The group sync after a connect runs on commit: run it, as the commit would.
            with TestCase.captureOnCommitCallbacks(execute=True):
                getattr(self, f"_{type(step).__name__.lower()}")(step)

    def session(self, line: int, index: int) -> WhatsAppSession:
        return WhatsAppSession.objects.get(pk=self.sessions[(line, index)])

    def _pair(self, step: Pair) -> None:
        name = f"line{step.line}-{step.index}-{uuid.uuid4().hex[:8]}"
        session = WhatsAppSession.objects.create(
            organization=self.organizations[LINES[step.line][0]],
            status=Status.CONNECTING,
            session_data={SESSION_NAME_KEY: name},
        )
        self.sessions[(step.line, step.index)] = session.pk
        self.names[session.pk] = name
        self._relist(Relist(step.line, step.index, step.groups))

    def _relist(self, step: Relist) -> None:
        gateway_lists(self.names[self.sessions[(step.line, step.index)]], step.groups)

    def _report(self, step: Report) -> None:
        session_id = self.sessions[(step.line, step.index)]
        name = self.names[session_id]
        migrations = set(SessionMigration.objects.values_list("pk", flat=True))
        sessions_before = WhatsAppSession.objects.count()
        if step.via == "webhook":
            me = waha_me(step.phone, step.shape) if step.phone else None
            result = post_waha_status(
                self.client, name=name, status=step.status, at=self.clock, me=me
            )["status"]
        else:
            session = WhatsAppSession.objects.get(pk=session_id)
            if session.superseded_by_id is not None:
                result = "superseded"  # polling asks about live sessions only
            else:
                result = apply_status_report(
                    session,
                    WAHA_STATUS_MAP[step.status],
                    reported_phone(step.phone, step.shape) if step.phone else None,
                    reported_at=self.clock,
                    gateway_name=(SESSION_NAME_KEY, name),
                ).result
        self.seen[f"report answered {result}"] += 1
        if WhatsAppSession.objects.count() > sessions_before:
            self.seen["a phone change made a new session"] += 1
        for migration in SessionMigration.objects.exclude(pk__in=migrations):
            kind = "a connect" if step.status == "WORKING" else "a late disconnect"
            self.seen[f"superseded by {kind}"] += 1
            self.seen[f"superseded through {step.via}"] += 1
            if migration.counts.get("groups_merged"):
                self.seen["groups merged"] += 1

    def _connectwithoutsignal(self, step: ConnectWithoutSignal) -> None:
        WhatsAppSession.objects.filter(pk=self.sessions[(step.line, step.index)]).update(
            status=Status.CONNECTED,
            phone_number=LINES[step.line][1],
            connected_at=self.clock,
            last_report_at=self.clock,
        )

    def _sync(self, step: Sync) -> None:
        try:
            result = sync_groups(self.session(step.line, step.index))
        except GroupSyncError:
            self.seen["staff sync refused"] += 1
            return
        self.seen["staff sync ran"] += 1
        if result.counts["deactivated"]:
            self.seen["sync deactivated a group"] += 1

    def _attach(self, step: Attach) -> None:
        if step.index is None:
            superseded = WhatsAppSession.objects.filter(
                pk__in=[pk for (line, _), pk in sorted(self.sessions.items()) if line == step.line],
                superseded_by__isnull=False,
            ).order_by("created_at")
            if not superseded:
                self.seen["no superseded session to attach to"] += 1
                return
            session = superseded[0]
        else:
            session = self.session(step.line, step.index)
        if session.superseded_by_id is not None:
            self.seen[f"attached {'raw ' if step.raw else ''}to a superseded session"] += 1
        organization_id = session.organization_id
        if step.kind == "community":
            Organization.objects.filter(pk=organization_id).update(community_session=session)
            self.communities[organization_id] = session.pk
            self._follow(Organization, organization_id, step.raw)
            return
        if step.kind == "campaign":
            campaign = NotificationCampaign.objects.create(
                organization_id=organization_id, name="c", session=session, status=step.status
            )
            self._record(Attached(NotificationCampaign, campaign.pk, session.pk, step.status), step)
            return
        # A message goes with a workshop, to one of the session's groups; a session that has
        # none (they moved on with its references) gets the workshop alone.
        group = None
        if step.kind == "message":
            groups = list(WhatsAppGroup.objects.filter(session=session).order_by("group_jid"))
            if groups:
                group = groups[step.n % len(groups)]
            else:
                self.seen["message not attached: the session has no group"] += 1
        model = Webinar if step.kind == "webinar" else Workshop
        event = model.objects.create(
            organization_id=organization_id,
            title=step.kind,
            starts_at=self.clock,
            whatsapp_session=session,
        )
        self._record(Attached(model, event.pk, session.pk), step)
        if group is not None:
            message = ScheduledWhatsAppMessage.objects.create(
                group=group, workshop=event, body="reminder", send_at=self.clock, status=step.status
            )
            self._record(
                Attached(
                    ScheduledWhatsAppMessage,
                    message.pk,
                    session.pk,
                    step.status,
                    group.pk,
                    group.group_jid,
                ),
                step,
            )

    def _record(self, row: Attached, step: Attach) -> None:
        self.rows.append(row)
        self._follow(row.model, row.pk, step.raw)

    def _follow(self, model, pk, raw: bool) -> None:
        # Staff attach through the admin, which sends a row on to the live end of its chain.
        if not raw:
            attach_to_live_sessions(model.objects.filter(pk=pk))
