from django.urls import path

from sessions_app import views

app_name = "sessions_app"

urlpatterns = [
    path("whatsapp/", views.whatsapp_webhook, name="whatsapp_webhook"),
    path("vps/", views.vps_webhook, name="vps_webhook"),
    path("evolution/", views.evolution_webhook, name="evolution_webhook"),
]
