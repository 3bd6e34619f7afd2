"""Phone numbers as gateways report them, read into E.164."""

import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# `5511999999999:12@s.whatsapp.net` -> `5511999999999`: drop the device suffix and the JID domain.
_JID_RE = re.compile(r"^(?P<user>[^@:]+)(?::\d+)?@(?:c\.us|s\.whatsapp\.net)$", re.IGNORECASE)


def normalize_phone_number(value: str) -> str:
    """Return `value` in E.164 (`+5511999999999`), or raise ValidationError naming it.

    Accepts `+55 11 99999-9999`, `5511999999999`, `5511999999999@c.us`,
    `5511999999999@s.whatsapp.net` and `5511999999999:12@s.whatsapp.net`.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            _("Phone number %(value)r is empty or not text."),
            code="invalid_phone_number",
            params={"value": value},
        )
    text = value.strip()
    match = _JID_RE.match(text)
    if match:
        text = match.group("user")
    if text.isdigit():
        # Gateways send the full international number without the plus sign.
        text = f"+{text}"
    try:
        parsed = phonenumbers.parse(text, settings.WHATSAPP_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("Phone number %(value)r cannot be read: %(reason)s."),
            code="invalid_phone_number",
            params={"value": value, "reason": str(exc).rstrip(".")},
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            _("Phone number %(value)r is not a valid phone number."),
            code="invalid_phone_number",
            params={"value": value},
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
