"""A row named by its id, or by the start of it as the admin shows ids (`e553e3e7`)."""

from __future__ import annotations

import string
import uuid
from typing import TypeVar

from django.db.models import Model, QuerySet
from django.utils.text import capfirst
from django.utils.translation import gettext as _

Row = TypeVar("Row", bound=Model)

# The admin shows the first 8 characters of an id; fewer name too many rows to be safe.
MIN_ID_PREFIX = 8
# Matches an ambiguous prefix names, at most.
_NAMED_MATCHES = 5
_CANONICAL_UUID = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"


class IdLookupError(Exception):
    """No single row answers to the id given; `str(exc)` is a one-line reason."""


def row_by_id_or_prefix(queryset: QuerySet[Row], value: str, *, what: str) -> Row:
    """The row of `queryset` whose id is `value`, or the only one whose id starts with it.

    A prefix is the start of the id as written (`e553e3e7-1a2b`) or of its hex digits, and has
    at least MIN_ID_PREFIX digits. Raises IdLookupError for a malformed or short value, for no
    match, and for a prefix of several ids, naming them. `what` ("session", in the active
    language) words the reasons.
    """
    text = value.strip().lower()
    try:
        pk = uuid.UUID(text)
    except ValueError:
        pk = None
    if pk is not None:
        row = queryset.filter(pk=pk).first()
        if row is None:
            raise IdLookupError(
                _("%(what)s %(id)s does not exist.") % {"what": capfirst(what), "id": pk}
            )
        return row
    digits = _prefix_digits(text)
    if digits is None:
        raise IdLookupError(
            _("%(value)r is not a valid %(what)s id (a UUID, or its first %(min)d characters).")
            % {"value": value, "what": what, "min": MIN_ID_PREFIX}
        )
    if len(digits) < MIN_ID_PREFIX:
        raise IdLookupError(
            _("%(value)r is too short: give at least %(min)d characters of the %(what)s id.")
            % {"value": value, "what": what, "min": MIN_ID_PREFIX}
        )
    # The ids starting with these digits are one range of UUIDs, read through the primary key.
    low, high = uuid.UUID(hex=digits.ljust(32, "0")), uuid.UUID(hex=digits.ljust(32, "f"))
    matches = list(queryset.filter(pk__gte=low, pk__lte=high).order_by("pk")[: _NAMED_MATCHES + 1])
    if not matches:
        raise IdLookupError(
            _("No %(what)s id starts with %(value)r.") % {"what": what, "value": value}
        )
    if len(matches) > 1:
        named = ", ".join(str(row.pk) for row in matches[:_NAMED_MATCHES])
        more = ", …" if len(matches) > _NAMED_MATCHES else ""
        raise IdLookupError(
            _("%(value)r matches more than one %(what)s id (%(ids)s); give more of it.")
            % {"value": value, "what": what, "ids": f"{named}{more}"}
        )
    return matches[0]


def _prefix_digits(text: str) -> str | None:
    """The hex digits of `text` when it is the start of a UUID, hyphens in their places or
    none at all; else None."""
    if text and len(text) <= 32 and all(c in string.hexdigits for c in text):
        return text
    if len(text) > len(_CANONICAL_UUID):
        return None
    for char, shape in zip(text, _CANONICAL_UUID, strict=False):
        if (char == "-") != (shape == "-") or (char != "-" and char not in string.hexdigits):
            return None
    return text.replace("-", "")
