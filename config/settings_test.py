"""Test settings: the real settings, with a fast hasher and throw-away media."""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECURE", "0")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="parley-test-media-")
ATTACHMENT_ROOT = tempfile.mkdtemp(prefix="parley-test-attachments-")
STORAGES["attachments"]["OPTIONS"]["location"] = ATTACHMENT_ROOT  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Separate names let two test runs share one server (e.g. two checkouts, or DATABASE_URLs that
# name different databases).
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": os.environ.get("TEST_DATABASE_NAME", f"test_{DATABASES['default']['NAME']}")  # noqa: F405
}
# The test process's own connections (every thread's) carry this name, so that a test cutting
# its servers' connections (tests/faults, tests/test_database_faults.py) leaves them alone: a
# thread's connection cut under it would fail whichever later test that thread serves.
TEST_APPLICATION_NAME = "parley-tests"
DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = TEST_APPLICATION_NAME  # noqa: F405
# Tests open connections from many threads and drop the database at the end: no pool.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
# Tests post in bursts; the rate-limit tests switch it on for themselves.
CHAT_RATE_PER_SECOND = 0
