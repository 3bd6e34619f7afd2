app_name = "sessions_app"

urlpatterns: list = []
