"""Production settings: refuse to start without a secret, and pass Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    # A production process: none of the test run's own DEBUG, SECRET_KEY, SECURE,
    # PARLEY_LOCAL_HTTP or DJANGO_*.
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "SECURE", "PARLEY_LOCAL_HTTP"}
        and not k.startswith("DJANGO_")
    }
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", DATABASE_URL="postgresql://postgres@127.0.0.1/parley")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_under_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="x7!kq2-production-secret-" + "a9Zb" * 12,
        ALLOWED_HOSTS="parley.example.com",
        DATABASE_URL="postgresql://postgres@127.0.0.1/parley",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_every_page_carries_a_content_security_policy_without_inline_script(client, settings):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"


def test_check_deploy_names_what_make_runs_plain_http_gives_up():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="x7!kq2-production-secret-" + "a9Zb" * 12,
        DATABASE_URL="postgresql://postgres@127.0.0.1/parley",
        PARLEY_LOCAL_HTTP="1",
    )
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr + result.stdout, check
