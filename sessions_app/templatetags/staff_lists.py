"""Template tags of the staff tools' lists."""

from django import template

from sessions_app.admin.filter_summary import filter_summary

register = template.Library()


@register.inclusion_tag("admin/filter_summary.html", takes_context=True)
def list_filter_summary(context, changelist):
    """The line above a filtered list: what it is filtered by, and a link to every row."""
    return {"summary": filter_summary(changelist, context["request"])}
