"""Settings as the tutorial leaves them, plus the database: Django's defaults otherwise
(CONN_MAX_AGE=0, so a connection per message), the in-memory layer Parley's one-process row uses."""

import os

import dj_database_url

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels", "bench.baselines.tutorial"]
ASGI_APPLICATION = "bench.baselines.tutorial.asgi.application"
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
USE_TZ = True
