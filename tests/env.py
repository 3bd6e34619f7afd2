"""Loaded by pytest (`-p tests.env`) before Django is set up: the test environment's defaults."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault(
    "DJANGO_STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
)
os.environ.setdefault("WHATSAPP_GATEWAY_BACKEND", "sessions_app.gateway.locmem.GatewayBackend")
os.environ.setdefault("WHATSAPP_WEBHOOK_SECRET", "test-webhook-secret")
