"""Settings as the tutorial leaves them, plus the database: Django's defaults otherwise
(CONN_MAX_AGE=0, so a connection per message), the in-memory layer Parley's one-process row uses.

TUTORIAL_DB_POOL=1 gives the same consumer the one setting a user adds for a lasting connection:
Django's psycopg pool (OPTIONS {"pool": True}), which Django recommends under ASGI instead of
CONN_MAX_AGE and which Parley itself uses."""

import os

import dj_database_url

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels", "bench.baselines.tutorial"]
ASGI_APPLICATION = "bench.baselines.tutorial.asgi.application"
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
if os.environ.get("TUTORIAL_DB_POOL") == "1":
    DATABASES["default"]["OPTIONS"] = {"pool": True}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
USE_TZ = True
