"""Dates and times as every page shows them."""

import datetime as dt

from django.utils import formats, timezone


def local_datetime(value: dt.datetime) -> str:
    """`value` in the project's format for the active language, in the staff's time zone, zone
    included: `2026-11-25 11:23 -03`, `25/11/2026 11:23 -03`."""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
