"""Test settings: the real settings, with a fast hasher and throw-away media."""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECURE", "0")

from config.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="parley-test-media-")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
