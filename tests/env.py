"""Loaded by pytest (`-p tests.env`) before Django is set up: the test environment's defaults.

Tests run with DJANGO_DEBUG off, as production does, so every variable production requires
gets a harmless value here; a variable already set in the environment wins.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault(
    "DJANGO_STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
)
os.environ.setdefault("WHATSAPP_GATEWAY_BACKEND", "sessions_app.gateway.locmem.GatewayBackend")
os.environ.setdefault("WHATSAPP_GATEWAY_URL", "http://127.0.0.1:3000")
os.environ.setdefault("WHATSAPP_GATEWAY_API_KEY", "")
os.environ.setdefault("WHATSAPP_WEBHOOK_SECRET", "test-webhook-secret")
os.environ.setdefault("WHATSAPP_WEBHOOK_PUBLIC_URL", "http://testserver/webhooks/whatsapp/")
# 64 bytes or more: PyJWT warns about shorter HMAC keys for HS512, which the tests forge with.
os.environ.setdefault(
    "EVOLUTION_WEBHOOK_JWT_KEY", "test-only-evolution-jwt-key-" + "0123456789abcdef" * 3
)
