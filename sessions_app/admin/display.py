"""Small pieces every page of the staff tools shows the same way."""

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html


def short_datetime(value) -> str:
    """`2026-11-25 06:24`: keeps the wide sessions list readable."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def admin_change_link(obj, text=None) -> str:
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or obj)
