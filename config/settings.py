"""Parley settings: every value comes from the environment (see the README's table)."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no environment variable."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# `make run`: production settings served over plain HTTP on loopback, where there is no TLS to
# redirect to and no proxy; it sets this, and nothing else should (see docs/deploy.md).
LOCAL_HTTP = env_bool("PARLEY_LOCAL_HTTP", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG or LOCAL_HTTP else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "ninja",
    "accounts",
    "chat",
    "attachments",
    "postgres",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# Database: DATABASE_URL, or in development the embedded server that `make run` starts.
EMBEDDED_DB_DIR = BASE_DIR / ".data" / "pg"
_default_database_url = f"postgresql://postgres@/parley?host={EMBEDDED_DB_DIR}" if DEBUG else ""
DATABASE_URL = os.environ.get("DATABASE_URL", _default_database_url)
if not DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL must be set when DEBUG is off.")
# The pool checks each connection as it lends it, so a backend that PostgreSQL terminated
# (restart, failover, idle kill) costs a reconnect, not a failed request.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
}
if env_bool("DATABASE_POOL", True):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": int(os.environ.get("DATABASE_POOL_MAX", "20")),
        "timeout": 10,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# Channel layer: Redis when REDIS_URL is set (several processes), in memory otherwise. With
# CHANNEL_LAYER_URLS the layer alone is sharded over several Redis instances (channels-redis
# hashes each group and channel to one of them); cache, rate limits and counts stay on REDIS_URL.
REDIS_URL = os.environ.get("REDIS_URL", "")
# Each process reads every event for its sockets from one channel (realtime/hub.py), so that
# channel may hold a burst: the layers' default capacity (100) would drop events of a busy room.
CHANNEL_CAPACITY = 20_000
# pub/sub is the default: the benchmark measured the lowest CPU per delivery and no errors with it.
CHANNEL_LAYER_BACKEND = os.environ.get("CHANNEL_LAYER", "pubsub")
if REDIS_URL:
    _layer = {
        "core": "channels_redis.core.RedisChannelLayer",
        "pubsub": "realtime.layers.LeanPublishingPubSubChannelLayer",
    }[CHANNEL_LAYER_BACKEND]
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": _layer,
            # No socket timeout: redis-py 8's default (5 s) equals the core layer's blocking read
            # and closed every socket idle for 5 s (channels_redis issue #422).
            "CONFIG": {
                "hosts": [
                    {"address": url, "socket_timeout": None}
                    for url in env_list("CHANNEL_LAYER_URLS", REDIS_URL)
                ],
                "prefix": os.environ.get("REDIS_PREFIX", "parley"),
                "capacity": CHANNEL_CAPACITY,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("REDIS_PREFIX", "parley"),
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.OverflowAwareInMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY},
        }
    }
    # One process: log-in throttle counts and revocation markers must not be culled by a flood
    # of other keys (the default keeps 300 entries).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "chat:lobby"
LOGOUT_REDIRECT_URL = "accounts:login"

# Failed password checks allowed per (account, address) pair, and per address across all accounts,
# within LOGIN_THROTTLE_WINDOW seconds; never per account alone (strangers could lock owners out).
# The address is REMOTE_ADDR: the server rewrites it only for FORWARDED_ALLOW_IPS (scripts/dev.py).
LOGIN_THROTTLE_LIMIT = int(os.environ.get("LOGIN_THROTTLE_LIMIT", "5"))
LOGIN_THROTTLE_ADDRESS_LIMIT = int(os.environ.get("LOGIN_THROTTLE_ADDRESS_LIMIT", "20"))
LOGIN_THROTTLE_WINDOW = int(os.environ.get("LOGIN_THROTTLE_WINDOW", "300"))

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / ".data" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".data" / "media"))
# Serve uploaded avatars from the app itself (one-process set-up); off behind a media server.
SERVE_MEDIA = env_bool("SERVE_MEDIA", True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024
# An uploaded file above this goes to a temporary file on disk, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# Uploaded pictures (avatars): refused above this many pixels before any is decoded, and at most
# this many decoded at once per process; each decode holds up to 4 bytes a pixel.
IMAGE_MAX_PIXELS = int(os.environ.get("IMAGE_MAX_PIXELS", str(4096 * 4096)))
IMAGE_DECODE_CONCURRENCY = int(os.environ.get("IMAGE_DECODE_CONCURRENCY", "2"))

# Files shared in chat rooms: kept under a private root that nothing serves directly; only the
# attachments view, which checks room membership on every request, hands them out (or tells the
# proxy to, through X-Accel-Redirect to an internal location at ATTACHMENT_ACCEL_REDIRECT_PREFIX).
ATTACHMENT_ROOT = Path(os.environ.get("ATTACHMENT_ROOT", BASE_DIR / ".data" / "attachments"))
ATTACHMENT_STORAGE = os.environ.get(
    "ATTACHMENT_STORAGE", "django.core.files.storage.FileSystemStorage"
)
if ATTACHMENT_STORAGE == "django.core.files.storage.FileSystemStorage":
    _attachment_options = {"location": ATTACHMENT_ROOT, "directory_permissions_mode": 0o700}
else:  # S3-compatible through django-storages (docs/deploy.md); keys from boto3's environment
    _attachment_options = {
        "bucket_name": os.environ.get("ATTACHMENT_BUCKET", ""),
        "endpoint_url": os.environ.get("ATTACHMENT_ENDPOINT_URL") or None,
        "default_acl": "private",
        "querystring_auth": True,
        "file_overwrite": False,
    }
STORAGES["attachments"] = {"BACKEND": ATTACHMENT_STORAGE, "OPTIONS": _attachment_options}
ATTACHMENT_ACCEL_REDIRECT_PREFIX = os.environ.get("ATTACHMENT_ACCEL_REDIRECT_PREFIX", "")
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(20 * 1024 * 1024)))
ATTACHMENT_DAILY_BYTES = int(os.environ.get("ATTACHMENT_DAILY_BYTES", str(200 * 1024 * 1024)))
ATTACHMENT_MAX_PER_MESSAGE = int(os.environ.get("ATTACHMENT_MAX_PER_MESSAGE", "10"))
# The largest file any form takes (attachments, or a 5 MiB avatar): a request announcing more is
# refused before its body is parsed, and a file growing past it while it streams in.
UPLOAD_MAX_BYTES = max(ATTACHMENT_MAX_BYTES, 5 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = [
    "attachments.uploads.BoundedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Parley <parley@localhost>")

# Cookies and transport security. Behind TLS (the default when DEBUG is off) every cookie is secure;
# `make run` (PARLEY_LOCAL_HTTP) serves plain HTTP on loopback, so it has none of this.
SECURE_ENABLED = env_bool("SECURE", not (DEBUG or LOCAL_HTTP))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = SECURE_ENABLED
CSRF_COOKIE_SECURE = SECURE_ENABLED
SECURE_SSL_REDIRECT = SECURE_ENABLED and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(
    os.environ.get("SECURE_HSTS_SECONDS", "31536000" if SECURE_ENABLED else "0")
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_ENABLED
SECURE_HSTS_PRELOAD = SECURE_ENABLED
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# The site's own origin for links in mail (password reset, notices): never the request's Host.
_first_host = next(iter(ALLOWED_HOSTS), "")
if DEBUG or LOCAL_HTTP:
    _default_site_url = "http://127.0.0.1:8000"
elif _first_host and "*" not in _first_host and not _first_host.startswith("."):
    _default_site_url = f"{'https' if SECURE_ENABLED else 'http'}://{_first_host}"
else:
    _default_site_url = ""
SITE_URL = os.environ.get("SITE_URL", _default_site_url).rstrip("/")
_site = urlsplit(SITE_URL)
if _site.scheme not in {"http", "https"} or not _site.hostname or _site.path or _site.query:
    raise ImproperlyConfigured(
        "SITE_URL must be the site's origin, e.g. https://chat.example.com (set it when DEBUG is "
        "off and the first ALLOWED_HOSTS entry is not a plain host name)."
    )

# Chat limits.
CHAT_MESSAGE_MAX_LENGTH = 4000
# Distinct emoji one person may put on one message.
CHAT_REACTIONS_PER_MESSAGE = int(os.environ.get("CHAT_REACTIONS_PER_MESSAGE", "20"))
CHAT_FRAME_MAX_BYTES = 64 * 1024
CHAT_RATE_PER_SECOND = float(os.environ.get("CHAT_RATE_PER_SECOND", "5"))
CHAT_RATE_BURST = int(os.environ.get("CHAT_RATE_BURST", "20"))
CHAT_MAX_SOCKETS_PER_USER = int(os.environ.get("CHAT_MAX_SOCKETS_PER_USER", "20"))
# Each process re-checks every open socket's credential and rooms this often (the backstop for a
# revocation event that was dropped), and renews its sockets' entries in the per-user count,
# which expire CHAT_SOCKET_TTL seconds after their process stops renewing them.
CHAT_REVALIDATE_SECONDS = float(os.environ.get("CHAT_REVALIDATE_SECONDS", "10"))
# Between those sweeps, each process checks its recently active rooms this often for messages
# the channel layer failed to carry, and tells the sockets that missed one to `sync`.
CHAT_CATCH_UP_SECONDS = float(os.environ.get("CHAT_CATCH_UP_SECONDS", "1"))
CHAT_SOCKET_TTL = float(os.environ.get("CHAT_SOCKET_TTL", "45"))
# Read receipts only in rooms with at most this many members (direct chats always have them).
CHAT_RECEIPTS_MAX_MEMBERS = int(os.environ.get("CHAT_RECEIPTS_MAX_MEMBERS", "20"))
# A presence change is pushed live only to rooms with at most this many members; in larger ones
# clients ask for the presence of the people they show (`presence` frame).
CHAT_PRESENCE_ROOM_MAX = int(os.environ.get("CHAT_PRESENCE_ROOM_MAX", "50"))
# Typing notices only in rooms of at most this many members (Zulip's default bound too).
CHAT_TYPING_ROOM_MAX = int(os.environ.get("CHAT_TYPING_ROOM_MAX", "100"))
# A client that reads nothing for this long while the server has a frame for it is closed (1013).
CHAT_SEND_TIMEOUT = float(os.environ.get("CHAT_SEND_TIMEOUT", "10"))
# A socket this many frames behind its room is closed with 1013 (reconnect and sync).
CHAT_OUTBOX_MAX = int(os.environ.get("CHAT_OUTBOX_MAX", "1000"))
# More sends than this waiting to be stored in one process are answered `overloaded` (retry in a
# second) instead of being queued: the database is not keeping up (chat/message_writer.py).
CHAT_STORE_QUEUE_MAX = int(os.environ.get("CHAT_STORE_QUEUE_MAX", "1000"))
CHAT_TICKET_TTL = 60
CHAT_AUTH_TIMEOUT = 5

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
