"""Admin forms: the confirmation of a manual move, and the edit forms' help texts."""

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from sessions_app.dates import local_datetime
from sessions_app.models import Organization, WhatsAppSession


class TargetSessionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, session: WhatsAppSession) -> str:
        """`+5511987654321 · connected 2026-11-25 15:59 -03 · 6858c66b`: the short id the lists
        show, the time in the project's format and the staff member's time zone."""
        connected = (
            pgettext("a session", "connected %(when)s")
            % {"when": local_datetime(session.connected_at)}
            if session.connected_at
            else ""
        )
        phone = session.phone_number or gettext("no phone yet")
        return " · ".join(part for part in (phone, connected, str(session.id)[:8]) if part)


class MoveReferencesForm(forms.Form):
    """What the staff member picks on the move confirmation page."""

    target = TargetSessionChoiceField(
        queryset=WhatsAppSession.objects.none(),
        empty_label=None,
        label=_("Move to"),
        help_text=_(
            "The connected session of the same organization that takes over every reference "
            "of the selected sessions."
        ),
    )
    force = forms.BooleanField(
        required=False,
        label=_("Force"),
        help_text=_(
            "Move even though the phone numbers differ or a selected session is still "
            "connected. Only for moving a number by hand; the automatic path never does this."
        ),
    )
    # The target the preview on the page was computed for: a changed target is shown again
    # before anything moves.
    previewed_target = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, targets: QuerySet, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = targets

    @property
    def target_was_previewed(self) -> bool:
        return self.cleaned_data.get("previewed_target") == self.cleaned_data["target"].pk


class OrganizationAdminForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name", "community_session"]

    def clean_community_session(self):
        session = self.cleaned_data.get("community_session")
        if session is not None and self.instance.pk and session.organization_id != self.instance.pk:
            raise forms.ValidationError(_("Pick a session of this organization."))
        return session


class WhatsAppSessionAdminForm(forms.ModelForm):
    # The gateway's name for a session is the product's to give, never typed: a typed name could
    # borrow another organization's phone and its status reports.
    class Meta:
        model = WhatsAppSession
        fields = ["organization"]
        help_texts = {
            "organization": _(
                "The organization the session sends for; fixed once the session exists."
            ),
        }
