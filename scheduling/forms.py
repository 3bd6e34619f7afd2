"""Admin forms: a row never points at another organization's session, group or event."""

from django import forms

from sessions_app.organization_rules import (
    message_organization_error,
    session_organization_error,
)


class SessionOfOwnOrganizationForm(forms.ModelForm):
    """Refuses a session of another organization than the row's, before the database would."""

    session_field = "whatsapp_session"

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        error = session_organization_error(
            organization_id=getattr(organization, "pk", None),
            session=cleaned.get(self.session_field),
        )
        if error:
            self.add_error(self.session_field, error)
        return cleaned


class EventForm(SessionOfOwnOrganizationForm):
    pass


class CampaignForm(SessionOfOwnOrganizationForm):
    session_field = "session"


class ScheduledMessageForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        event = cleaned.get("workshop") or cleaned.get("webinar")
        error = message_organization_error(group=cleaned.get("group"), event=event)
        if error:
            self.add_error("group", error)
        return cleaned
