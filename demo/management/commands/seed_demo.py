"""Load a believable demo: a phone that dropped and was paired again, its rows still on the old
session, so staff can try moving them.

Rows have fixed ids and are only ever inserted, never updated: running the command again creates
nothing and leaves alone whatever staff changed since (a move they tried stays done).
"""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.contrib.admin.utils import model_ngettext
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.gateway.base import SESSION_NAME_KEY
from sessions_app.models import (
    Organization,
    OrganizationMembership,
    WhatsAppGroup,
    WhatsAppSession,
)

DEMO_NAMESPACE = uuid.UUID("6f1c2a9e-3d1b-4b8e-9a51-5c0e7d2f8a10")

AURORA_NAME = "Instituto Aurora"
AURORA_PHONE = "+5511987654321"
HORIZONTE_NAME = "Escola Horizonte"
HORIZONTE_PHONE = "+5521998765432"
STAFF_GROUP_NAME = "Organization staff"

# What the demo staff may do: work with their organization's sessions, groups and schedules,
# pair phones, move references, and read the audit.
STAFF_PERMISSIONS = {
    "sessions_app": [
        "view_organization",
        "view_whatsappsession",
        "add_whatsappsession",
        "change_whatsappsession",
        "migrate_whatsappsession",
        "view_whatsappgroup",
        "change_whatsappgroup",
        "view_sessionmigration",
    ],
    "scheduling": [
        "view_workshop",
        "change_workshop",
        "view_webinar",
        "change_webinar",
        "view_notificationcampaign",
        "change_notificationcampaign",
        "view_scheduledwhatsappmessage",
        "change_scheduledwhatsappmessage",
    ],
}


def demo_id(key: str) -> uuid.UUID:
    """The same id on every run, so a second run finds the rows of the first."""
    return uuid.uuid5(DEMO_NAMESPACE, key)


@dataclass(frozen=True)
class DemoStaff:
    username: str
    first_name: str
    last_name: str
    organization_key: str


DEMO_STAFF = [
    DemoStaff("marina.souza", "Marina", "Souza", "aurora"),
    DemoStaff("rafael.lima", "Rafael", "Lima", "horizonte"),
]


class Command(BaseCommand):
    @property
    def help(self) -> str:
        # Translated when the parser is built: argparse cannot format a lazy string.
        return _(
            "Load a demo organization whose phone reconnected: a disconnected old session and a "
            "freshly connected new one of the same phone, with workshops, webinars, campaigns, "
            "groups and scheduled messages still on the old one. Safe to run again."
        )

    def handle(self, *args, **options):
        self.now = timezone.now()
        # model -> how many of its rows this run inserted
        self.created: dict[type[models.Model], int] = {}
        with transaction.atomic():
            self.seed_organizations()
            self.seed_sessions()
            self.seed_groups()
            self.seed_events()
            self.seed_campaigns()
            self.seed_messages()
            self.seed_staff()
        self.report()

    # Insertion

    def insert_missing(self, model: type[models.Model], rows: list[models.Model]) -> list:
        """Insert the rows whose id is not in the table yet; return those inserted.

        `bulk_create` sends no signals: the demo must show references still on the old
        session, so the automatic move on a session saved as connected must not run here.
        """
        existing = set(
            model.objects.filter(pk__in=[row.pk for row in rows]).values_list("pk", flat=True)
        )
        missing = [row for row in rows if row.pk not in existing]
        model.objects.bulk_create(missing)
        if missing:
            self.count_created(model, len(missing))
        return missing

    def count_created(self, model: type[models.Model], count: int = 1) -> None:
        self.created[model] = self.created.get(model, 0) + count

    def ago(self, **delta) -> dt.datetime:
        return self.now - dt.timedelta(**delta)

    def ahead(self, **delta) -> dt.datetime:
        return self.now + dt.timedelta(**delta)

    # Rows

    def seed_organizations(self) -> None:
        self.new_organization_ids = {
            org.pk
            for org in self.insert_missing(
                Organization,
                [
                    Organization(id=demo_id("aurora"), name=AURORA_NAME),
                    Organization(id=demo_id("horizonte"), name=HORIZONTE_NAME),
                ],
            )
        }

    def seed_sessions(self) -> None:
        aurora, horizonte = demo_id("aurora"), demo_id("horizonte")
        sessions = [
            WhatsAppSession(
                id=demo_id("aurora/session/old"),
                organization_id=aurora,
                phone_number=AURORA_PHONE,
                status=WhatsAppSession.Status.DISCONNECTED,
                session_data={SESSION_NAME_KEY: "aurora-atendimento"},
                connected_at=self.ago(days=62),
                disconnected_at=self.ago(hours=3),
            ),
            WhatsAppSession(
                id=demo_id("aurora/session/new"),
                organization_id=aurora,
                phone_number=AURORA_PHONE,
                status=WhatsAppSession.Status.CONNECTED,
                session_data={SESSION_NAME_KEY: "aurora-atendimento-2"},
                connected_at=self.ago(minutes=20),
            ),
            WhatsAppSession(
                id=demo_id("horizonte/session"),
                organization_id=horizonte,
                phone_number=HORIZONTE_PHONE,
                status=WhatsAppSession.Status.CONNECTED,
                session_data={SESSION_NAME_KEY: "horizonte-secretaria"},
                connected_at=self.ago(days=15),
            ),
        ]
        inserted = self.insert_missing(WhatsAppSession, sessions)
        # created_at is set on insert; date each session from its pairing so lists read right.
        for session in inserted:
            WhatsAppSession.objects.filter(pk=session.pk).update(created_at=session.connected_at)
        community = {aurora: demo_id("aurora/session/old"), horizonte: demo_id("horizonte/session")}
        for organization_id in self.new_organization_ids:
            Organization.objects.filter(pk=organization_id).update(
                community_session_id=community[organization_id]
            )

    def seed_groups(self) -> None:
        old, new = demo_id("aurora/session/old"), demo_id("aurora/session/new")
        aurora_groups = [
            ("canva", "120363041234567801@g.us", "Oficina de Canva — Turma de Março"),
            ("excel", "120363041234567802@g.us", "Oficina de Excel Básico — Turma 2"),
            ("financas", "120363041234567803@g.us", "Webinar Finanças Pessoais — Participantes"),
            ("avisos", "120363041234567804@g.us", "Comunidade Instituto Aurora — Avisos"),
        ]
        # The gateway re-synced two of the groups under the new session already: moving the
        # old session's references has to merge those instead of moving them.
        resynced = {"canva", "excel"}
        rows = [
            WhatsAppGroup(
                id=demo_id(f"aurora/group/{key}"), session_id=old, group_jid=jid, name=name
            )
            for key, jid, name in aurora_groups
        ]
        rows += [
            WhatsAppGroup(
                id=demo_id(f"aurora/group/{key}/resynced"), session_id=new, group_jid=jid, name=name
            )
            for key, jid, name in aurora_groups
            if key in resynced
        ]
        rows.append(
            WhatsAppGroup(
                id=demo_id("horizonte/group/redacao"),
                session_id=demo_id("horizonte/session"),
                group_jid="120363059876543201@g.us",
                name="Redação ENEM — Turma A",
            )
        )
        self.insert_missing(WhatsAppGroup, rows)

    def seed_events(self) -> None:
        aurora, old = demo_id("aurora"), demo_id("aurora/session/old")
        workshops = [
            ("canva", "Oficina de Canva para Redes Sociais", self.ahead(days=5, hours=2)),
            ("excel", "Oficina de Excel Básico", self.ahead(days=12)),
            ("fotografia", "Oficina de Fotografia com Celular", self.ago(days=10)),
        ]
        webinars = [
            ("financas", "Primeiros Passos em Finanças Pessoais", self.ahead(days=3)),
            ("carreira", "Carreira em Tecnologia: Por Onde Começar", self.ahead(days=20)),
        ]
        self.insert_missing(
            Workshop,
            [
                Workshop(
                    id=demo_id(f"aurora/workshop/{key}"),
                    organization_id=aurora,
                    title=title,
                    starts_at=starts_at,
                    whatsapp_session_id=old,
                )
                for key, title, starts_at in workshops
            ]
            + [
                Workshop(
                    id=demo_id("horizonte/workshop/redacao"),
                    organization_id=demo_id("horizonte"),
                    title="Oficina de Redação para o ENEM",
                    starts_at=self.ahead(days=8),
                    whatsapp_session_id=demo_id("horizonte/session"),
                )
            ],
        )
        self.insert_missing(
            Webinar,
            [
                Webinar(
                    id=demo_id(f"aurora/webinar/{key}"),
                    organization_id=aurora,
                    title=title,
                    starts_at=starts_at,
                    whatsapp_session_id=old,
                )
                for key, title, starts_at in webinars
            ],
        )

    def seed_campaigns(self) -> None:
        aurora, old = demo_id("aurora"), demo_id("aurora/session/old")
        status = NotificationCampaign.Status
        # One campaign in every status: only scheduled, pending and sending ones should follow
        # a reconnect; the others keep the session they were (or were not) sent from.
        campaigns = [
            (status.DRAFT, "Boas-vindas à turma de abril", None),
            (status.SCHEDULED, "Inscrições abertas: Oficina de Excel", self.ahead(days=2)),
            (status.PENDING, "Convite: webinar de finanças pessoais", self.ahead(hours=1)),
            (status.SENDING, "Aviso: mudança de sala da Oficina de Canva", self.ago(minutes=5)),
            (status.COMPLETED, "Pesquisa de satisfação — fevereiro", self.ago(days=20)),
            (status.FAILED, "Certificados da Oficina de Fotografia", self.ago(hours=4)),
            (status.CANCELLED, "Feriado: sem aulas na segunda-feira", self.ago(days=7)),
        ]
        rows = [
            NotificationCampaign(
                id=demo_id(f"aurora/campaign/{campaign_status}"),
                organization_id=aurora,
                name=name,
                session_id=old,
                status=campaign_status,
                body=f"{name}. Responda esta mensagem se tiver dúvidas.",
                scheduled_at=scheduled_at,
            )
            for campaign_status, name, scheduled_at in campaigns
        ]
        rows.append(
            NotificationCampaign(
                id=demo_id("horizonte/campaign/simulado"),
                organization_id=demo_id("horizonte"),
                name="Simulado ENEM no sábado",
                session_id=demo_id("horizonte/session"),
                status=status.SCHEDULED,
                body="Simulado ENEM no sábado às 8h. Traga caneta preta.",
                scheduled_at=self.ahead(days=4),
            )
        )
        self.insert_missing(NotificationCampaign, rows)

    def seed_messages(self) -> None:
        message_status = ScheduledWhatsAppMessage.Status
        canva = self.ahead(days=5, hours=2)
        not_connected = "Session aurora-atendimento is not connected (STOPPED)."
        # (key, group, event kind, event key, status, body, send_at, extra fields)
        messages = [
            ("canva-1d", "canva", "workshop", "canva", message_status.PENDING,
             "Lembrete: a Oficina de Canva é amanhã às 19h. Traga seu celular carregado!",
             canva - dt.timedelta(days=1), {}),
            ("canva-1h", "canva", "workshop", "canva", message_status.PENDING,
             "Começamos em 1 hora! Sala 3, segundo andar.",
             canva - dt.timedelta(hours=1), {}),
            ("canva-confirmacao", "canva", "workshop", "canva", message_status.SENT,
             "Inscrição confirmada na Oficina de Canva. Até lá!",
             self.ago(days=2), {"sent_at": self.ago(days=2), "attempts": 1,
                                "gateway_message_id": "true_120363041234567801@g.us_3EB0A1"}),
            ("canva-material", "canva", "workshop", "canva", message_status.FAILED,
             "Material de apoio da Oficina de Canva: modelos de posts.",
             self.ago(hours=3), {"attempts": 5, "last_error": not_connected}),
            ("excel-1d", "excel", "workshop", "excel", message_status.PENDING,
             "Lembrete: Oficina de Excel Básico daqui a uma semana. Vagas confirmadas!",
             self.ahead(days=11), {}),
            ("excel-antigo", "excel", "workshop", "excel", message_status.CANCELLED,
             "Oficina de Excel adiada: nova data em breve.",
             self.ago(days=1), {}),
            ("financas-1d", "financas", "webinar", "financas", message_status.PENDING,
             "O webinar Primeiros Passos em Finanças Pessoais é em 2 dias. Link enviado 1h antes.",
             self.ahead(days=1), {}),
            ("financas-agora", "financas", "webinar", "financas", message_status.SENDING,
             "Inscrições quase esgotadas para o webinar de finanças!",
             self.ago(minutes=2), {"attempts": 1, "claimed_by": "dispatcher-demo",
                                   "lease_expires_at": self.ahead(minutes=2)}),
            ("financas-convite", "financas", "webinar", "financas", message_status.SENT,
             "Você está convidado para o webinar de finanças pessoais.",
             self.ago(days=4), {"sent_at": self.ago(days=4), "attempts": 1,
                                "gateway_message_id": "true_120363041234567803@g.us_3EB0B2"}),
            ("carreira-anuncio", "avisos", "webinar", "carreira", message_status.PENDING,
             "Novo webinar: Carreira em Tecnologia. Inscreva-se pelo link da bio.",
             self.ahead(hours=6), {}),
            ("fotografia-obrigado", "avisos", "workshop", "fotografia", message_status.SENT,
             "Obrigado a todos que vieram à Oficina de Fotografia com Celular!",
             self.ago(days=9), {"sent_at": self.ago(days=9), "attempts": 1,
                                "gateway_message_id": "true_120363041234567804@g.us_3EB0C3"}),
        ]  # fmt: skip
        rows = [
            ScheduledWhatsAppMessage(
                id=demo_id(f"aurora/message/{key}"),
                group_id=demo_id(f"aurora/group/{group_key}"),
                **{f"{event_kind}_id": demo_id(f"aurora/{event_kind}/{event_key}")},
                status=status,
                body=body,
                send_at=send_at,
                **extra,
            )
            for key, group_key, event_kind, event_key, status, body, send_at, extra in messages
        ]
        rows.append(
            ScheduledWhatsAppMessage(
                id=demo_id("horizonte/message/redacao-1d"),
                group_id=demo_id("horizonte/group/redacao"),
                workshop_id=demo_id("horizonte/workshop/redacao"),
                status=message_status.PENDING,
                body="Lembrete: Oficina de Redação amanhã às 14h.",
                send_at=self.ahead(days=7),
            )
        )
        self.insert_missing(ScheduledWhatsAppMessage, rows)

    def seed_staff(self) -> None:
        group, group_created = Group.objects.get_or_create(name=STAFF_GROUP_NAME)
        if group_created:
            for app_label, codenames in STAFF_PERMISSIONS.items():
                group.permissions.add(
                    *Permission.objects.filter(
                        content_type__app_label=app_label, codename__in=codenames
                    )
                )
            self.count_created(Group)
        User = get_user_model()
        for staff in DEMO_STAFF:
            user = User.objects.filter(username=staff.username).first()
            if user is None:
                # No password: nobody logs in as a demo account until a superuser sets one.
                user = User(
                    username=staff.username,
                    first_name=staff.first_name,
                    last_name=staff.last_name,
                    email=f"{staff.username}@example.org",
                    is_staff=True,
                )
                user.set_unusable_password()
                user.save()
                user.groups.add(group)
                self.count_created(User)
            _membership, membership_created = OrganizationMembership.objects.get_or_create(
                user=user, organization_id=demo_id(staff.organization_key)
            )
            if membership_created:
                self.count_created(OrganizationMembership)

    def report(self) -> None:
        if not self.created:
            self.stdout.write(_("Demo data already present: nothing created."))
            return
        summary = ", ".join(
            f"{count} {model_ngettext(model, count)}" for model, count in self.created.items()
        )
        self.stdout.write(self.style.SUCCESS(_("Demo data loaded: %(rows)s.") % {"rows": summary}))
        self.stdout.write(
            _(
                "%(organization)s's phone %(phone)s reconnected as a new session; its workshops, "
                "webinars, campaigns, groups and messages still point at the old one, %(old)s."
            )
            % {
                "organization": AURORA_NAME,
                "phone": AURORA_PHONE,
                "old": demo_id("aurora/session/old"),
            }
        )
