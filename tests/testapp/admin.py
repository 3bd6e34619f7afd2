from django.contrib import admin

from sessions_app.admin_tenancy import OrganizationScopedAdmin
from tests.testapp.models import Survey


@admin.register(Survey)
class SurveyAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = ["title", "status", "session"]
    list_filter = ["status"]
