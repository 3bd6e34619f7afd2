"""List filters shared by the lists of rows that point at sessions."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import build_q_object_from_lookup_parameters
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sessions_app.admin.display import short_id_of
from sessions_app.admin_tenancy import scope_to_user_organizations
from sessions_app.models import WhatsAppSession

# `?points_at=disconnected`: a parameter, not a lookup, so it names no field of any model.
POINTS_AT_PARAMETER = "points_at"
POINTS_AT_DOWN = "disconnected"


def session_label(session: WhatsAppSession) -> str:
    """`e553e3e7 (disconnected)`, `e553e3e7 (disconnected, superseded)`."""
    state = str(session.get_status_display()).lower()
    if session.superseded_by_id:
        state = gettext("%(status)s, superseded") % {"status": state}
    return f"{short_id_of(session)} ({state})"


class SessionListFilter(admin.RelatedFieldListFilter):
    """Rows by the session they point at: any disconnected or superseded one, none, or the one
    a link names in the query parameter the admin's own filter uses (`<path>__id__exact`), as
    the "What points at this session" panel does. Never lists every session: there are
    thousands; only the one in use is shown, and only if the user may see it."""

    display_title = None

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.points_at = params.get(POINTS_AT_PARAMETER)
        super().__init__(field, request, params, model, model_admin, field_path)
        if self.display_title:
            self.title = self.display_title

    @property
    def points_at_down(self) -> bool:
        return bool(self.points_at) and self.points_at[-1] == POINTS_AT_DOWN

    def expected_parameters(self):
        return [*super().expected_parameters(), POINTS_AT_PARAMETER]

    def field_choices(self, field, request, model_admin):
        if not self.lookup_val:
            return []
        sessions = scope_to_user_organizations(
            WhatsAppSession.objects.filter(pk__in=self.lookup_val), "organization", request.user
        )
        try:
            return [(session.pk, session_label(session)) for session in sessions]
        except ValidationError:  # not an id: the changelist reports the parameter itself
            return []

    def has_output(self):
        return True

    def _down(self) -> Q:
        return Q(**{f"{self.field_path}__status": WhatsAppSession.Status.DISCONNECTED}) | Q(
            **{f"{self.field_path}__superseded_by__isnull": False}
        )

    def queryset(self, request, queryset):
        lookups = {
            key: value for key, value in self.used_parameters.items() if key != POINTS_AT_PARAMETER
        }
        try:
            queryset = queryset.filter(build_q_object_from_lookup_parameters(lookups))
        except (ValueError, ValidationError) as error:
            raise IncorrectLookupParameters(error) from error
        if self.points_at_down:
            queryset = queryset.filter(self._down())
        return queryset

    def get_facet_counts(self, pk_attname, filtered_qs):
        counts = super().get_facet_counts(pk_attname, filtered_qs)
        counts["down__c"] = Count(pk_attname, filter=self._down())
        return counts

    def choices(self, changelist):
        every = [self.lookup_kwarg, self.lookup_kwarg_isnull, POINTS_AT_PARAMETER]
        facets = self.get_facet_queryset(changelist) if changelist.add_facets else None

        def counted(display, key):
            return f"{display} ({facets[key]})" if facets is not None else display

        yield {
            "selected": not (self.lookup_val or self.lookup_val_isnull or self.points_at),
            "query_string": changelist.get_query_string(remove=every),
            "display": gettext("All"),
        }
        yield {
            "selected": self.points_at_down,
            "query_string": changelist.get_query_string(
                {POINTS_AT_PARAMETER: POINTS_AT_DOWN}, [self.lookup_kwarg, self.lookup_kwarg_isnull]
            ),
            "display": counted(gettext("Disconnected or superseded"), "down__c"),
        }
        for pk, label in self.lookup_choices:
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(
                    {self.lookup_kwarg: pk}, [self.lookup_kwarg_isnull, POINTS_AT_PARAMETER]
                ),
                "display": counted(label, f"{pk}__c"),
            }
        if self.include_empty_choice:
            yield {
                "selected": bool(self.lookup_val_isnull),
                "query_string": changelist.get_query_string(
                    {self.lookup_kwarg_isnull: "True"}, [self.lookup_kwarg, POINTS_AT_PARAMETER]
                ),
                "display": counted(gettext("No session"), "__c"),
            }

    def summary(self) -> str:
        """What the filter keeps, as the line above the list says it."""
        if self.lookup_choices:
            labels = ", ".join(label for _pk, label in self.lookup_choices)
            return gettext("pointing at session %(session)s") % {"session": labels}
        if self.lookup_val:
            return gettext("pointing at a session you cannot see")
        if self.lookup_val_isnull:
            return gettext("pointing at no session")
        if self.points_at_down:
            return gettext("pointing at a disconnected or superseded session")
        return ""


class GroupSessionListFilter(SessionListFilter):
    """Messages by the session of their group: the rows a move of that session takes."""

    display_title = _("group's session")
