import uuid

from django.db import models


class Survey(models.Model):
    """A survey an organization sends through one of its sessions."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("sessions_app.Organization", on_delete=models.PROTECT)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    session = models.ForeignKey(
        "sessions_app.WhatsAppSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="surveys",
    )

    def __str__(self) -> str:
        return self.title
