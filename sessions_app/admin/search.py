"""Search that finds a phone however staff type it, on any list that shows phones."""

import contextlib

from django.core.exceptions import ValidationError
from django.db.models import Q

from sessions_app.phones import normalize_phone_number


class PhoneSearchAdmin:
    """Mix into a ModelAdmin before `admin.ModelAdmin`: a search term that reads as a phone
    (`+55 11 98765-4321`, `55 (11) 98765-4321`) also finds the rows whose `phone_search_fields`
    hold it in E.164, as stored."""

    phone_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return results, may_have_duplicates
        matches = Q(pk__in=results.values("pk"))
        with contextlib.suppress(ValidationError):
            phone = normalize_phone_number(search_term)
            for field in self.phone_search_fields:
                matches |= Q(**{field: phone})
        # Resolved to ids first: the list's queries then plan for the rows found, not a guess.
        found = list(queryset.filter(matches).order_by().values_list("pk", flat=True))
        return queryset.filter(pk__in=found), False
