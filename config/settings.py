"""Settings for whatsapp-session-admin, read from the environment.

Every variable is documented in `.env.example`.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file; DJANGO_ENV_FILE points elsewhere.
env_file = Path(env("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")))
if env_file.is_file():
    environ.Env.read_env(str(env_file))

# General
# https://docs.djangoproject.com/en/5.2/ref/settings/#core-settings
DEBUG = env.bool("DJANGO_DEBUG", default=False)


def development_default(value):
    """`value` while DJANGO_DEBUG is on; with it off the variable must be set explicitly."""
    return value if DEBUG else environ.Env.NOTSET


_DEV_SECRET_KEY = "insecure-development-only-key"
SECRET_KEY = env("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY or (not DEBUG and SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a long random value when DJANGO_DEBUG is off."
    )
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=development_default(["localhost", "127.0.0.1", "[::1]"])
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# Languages, time zone and formats
# https://docs.djangoproject.com/en/5.2/topics/i18n/
# The admin speaks the browser's language when it is one of these (LocaleMiddleware), English
# otherwise. The catalogs in locale/ are compiled by `make run` and `make test`.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pt-br", _("Brazilian Portuguese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Stored in UTC; shown in the staff's time zone, with the zone in every date and time.
USE_TZ = True
TIME_ZONE = env("DJANGO_TIME_ZONE", default="America/Sao_Paulo")
# One date and time format per language, in config/formats/.
FORMAT_MODULE_PATH = ["config.formats"]

# Databases
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# A connection per request costs more than a webhook's own work: keep each one for a minute,
# checked before reuse so a database restart costs one failed check, not a failed request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Row locks do not exist in SQLite; IMMEDIATE serializes writers instead of failing late.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)

# Apps
# https://docs.djangoproject.com/en/5.2/ref/settings/#installed-apps
DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
THIRD_PARTY_APPS: list[str] = []
LOCAL_APPS = [
    "sessions_app",
    "scheduling",
    "demo",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

# Middleware
# https://docs.djangoproject.com/en/5.2/topics/http/middleware/
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before anything that builds a response in a language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Templates
# https://docs.djangoproject.com/en/5.2/ref/settings/#templates
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Passwords
# https://docs.djangoproject.com/en/5.2/topics/auth/passwords/
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Static files, served by whitenoise
# https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "DJANGO_STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Security
# https://docs.djangoproject.com/en/5.2/ref/settings/#security
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Logging
# https://docs.djangoproject.com/en/5.2/topics/logging/
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# WhatsApp gateway
# Backends work like Django's e-mail backends: console, locmem (tests), or HTTP ones:
# waha, evolution or vps.
# Production names its gateway explicitly (an empty API key is allowed when set on purpose).
WHATSAPP_GATEWAY_BACKEND = env(
    "WHATSAPP_GATEWAY_BACKEND",
    default=development_default("sessions_app.gateway.console.GatewayBackend"),
)
WHATSAPP_GATEWAY_URL = env(
    "WHATSAPP_GATEWAY_URL", default=development_default("http://127.0.0.1:3000")
)
WHATSAPP_GATEWAY_API_KEY = env("WHATSAPP_GATEWAY_API_KEY", default=development_default(""))
WHATSAPP_GATEWAY_TIMEOUT = env.float("WHATSAPP_GATEWAY_TIMEOUT", default=10.0)
WHATSAPP_WEBHOOK_SECRET = env("WHATSAPP_WEBHOOK_SECRET", default=development_default(""))
# Event ids of webhooks are remembered this long, so a redelivered event changes nothing.
WHATSAPP_WEBHOOK_EVENT_RETENTION_HOURS = env.int(
    "WHATSAPP_WEBHOOK_EVENT_RETENTION_HOURS", default=72
)
# Where the gateway reaches this deployment's webhook; given to the gateway when pairing a phone.
WHATSAPP_WEBHOOK_PUBLIC_URL = env(
    "WHATSAPP_WEBHOOK_PUBLIC_URL",
    default=development_default("http://127.0.0.1:8000/webhooks/whatsapp/"),
)
# The HMAC key of the original system's gateway service ("VPS") for /webhooks/vps/; unset, that
# webhook refuses every call.
WHATSAPP_VPS_WEBHOOK_SECRET = env("WHATSAPP_VPS_WEBHOOK_SECRET", default="")
# The key Evolution API signs its webhook's bearer token with (the instance's `jwt_key` header).
EVOLUTION_WEBHOOK_JWT_KEY = env("EVOLUTION_WEBHOOK_JWT_KEY", default="")
# Default region used to read phone numbers written without a country code.
WHATSAPP_DEFAULT_REGION = env("WHATSAPP_DEFAULT_REGION", default="BR")

# Dispatcher
WHATSAPP_DISPATCH_LEASE_SECONDS = env.int("WHATSAPP_DISPATCH_LEASE_SECONDS", default=120)
WHATSAPP_DISPATCH_MAX_ATTEMPTS = env.int("WHATSAPP_DISPATCH_MAX_ATTEMPTS", default=5)
WHATSAPP_DISPATCH_BACKOFF_SECONDS = env.int("WHATSAPP_DISPATCH_BACKOFF_SECONDS", default=30)
# A looping dispatcher moves what slipped onto superseded sessions every this many passes
# (0: never).
WHATSAPP_DISPATCH_SWEEP_EVERY_PASSES = env.int("WHATSAPP_DISPATCH_SWEEP_EVERY_PASSES", default=60)
WHATSAPP_SEND_INTERVAL_SECONDS = env.float("WHATSAPP_SEND_INTERVAL_SECONDS", default=3.0)
WHATSAPP_SEND_JITTER_SECONDS = env.float("WHATSAPP_SEND_JITTER_SECONDS", default=2.0)
