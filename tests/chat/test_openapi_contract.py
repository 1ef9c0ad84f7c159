"""The OpenAPI document says exactly what the API answers: schemathesis drives the real server
process with every check (documented status, content type and body, schema-valid requests
accepted, schema-violating ones refused, credentials not ignored), with a token, with a browser
session and with no credential at all."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from accounts.services import api_token_create
from chat import services
from chat.models import Room
from tests.factories import UserFactory, make_room, new_client_id

# Examples per operation and phase: enough to reach every documented answer, small enough that
# the three runs take well under a minute.
MAX_EXAMPLES = 15
ERROR_REF = "#/components/schemas/ErrorOut"
OPERATIONS = 12
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def people_with_rooms(live_url):
    """Alice (token) and Carol (browser session) each with rooms, messages and a room of others."""
    alice, bob, carol = (UserFactory(username=name) for name in ("alice", "bob", "carol"))
    for owner in (alice, carol):
        room = make_room(Room.Kind.PRIVATE, owner)
        for n in range(3):
            services.message_post(
                author=owner, room_id=room.id, body=f"m{n}", client_id=new_client_id()
            )
    make_room(Room.Kind.DIRECT, alice, bob)
    make_room(Room.Kind.PRIVATE, bob)
    api_token_create(user=carol, name="to revoke")
    return alice, carol


def schemathesis_run(live_url: str, tmp_path, *, auth: str = "", headers=()) -> dict:
    """Run the schemathesis CLI against the live document; its JSON run report."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(auth)
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{live_url}/api/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    for header in headers:
        command += ["--header", header]
    # The hooks teach schemathesis the document's custom format "emoji".
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    return json.loads(report.read_text())


def assert_all_operations_passed(run: dict) -> None:
    assert run["complete"], run["stop_reason"]
    assert run["failures"] == [] and run["errors"] == []
    operations = run["operations"]
    assert operations["tested"] == operations["total"] == OPERATIONS, operations
    assert run["test_cases"]["generated"] > OPERATIONS * MAX_EXAMPLES


def test_a_token_client_gets_only_documented_answers(live_url, people_with_rooms, tmp_path):
    alice, _ = people_with_rooms
    _, key = api_token_create(user=alice, name="schemathesis")
    auth = f'[auth.openapi.BearerToken]\nbearer = "{key}"\n'
    run = schemathesis_run(live_url, tmp_path, auth=auth)
    assert_all_operations_passed(run)
    # The session-only token operations answer a token 401; everything else was reached.
    assert set(run["warnings"]["missing_auth"]) == {
        "GET /api/tokens/",
        "POST /api/tokens/",
        "DELETE /api/tokens/{token_id}/",
    }


def test_a_browser_session_gets_only_documented_answers(live_url, people_with_rooms, tmp_path):
    _, carol = people_with_rooms
    browser = Client()
    browser.force_login(carol)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = secrets.token_hex(16)
    # The CSRF cookie rides in the session cookie's value: a request that carries the credential
    # carries its CSRF pair too, and one stripped of the credential (ignored_auth) loses both.
    cookie = f"{session}; {settings.CSRF_COOKIE_NAME}={csrf}"
    auth = f'[auth.openapi.BrowserSession]\napi_key = "{cookie}"\n'
    run = schemathesis_run(live_url, tmp_path, auth=auth, headers=[f"X-CSRFToken: {csrf}"])
    assert_all_operations_passed(run)
    assert run["warnings"]["missing_auth"] == []


def test_without_credentials_every_operation_answers_a_documented_401(
    live_url, people_with_rooms, tmp_path
):
    run = schemathesis_run(live_url, tmp_path)
    assert_all_operations_passed(run)
    assert len(run["warnings"]["missing_auth"]) == OPERATIONS


@pytest.mark.django_db
def test_every_operation_documents_401_and_every_error_in_the_shared_shape(client):
    document = client.get("/api/openapi.json").json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) == OPERATIONS
    for operation in operations:
        responses = operation["responses"]
        assert "401" in responses, operation["operationId"]
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (operation["operationId"], status)
    assert document["components"]["schemas"]["ErrorOut"]["required"] == ["code", "detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("x", 201),
        (" \t\u3000x\u00a0", 201),
        ("", 400),
        (" \n\t", 400),
        ("\u3000\u2028\ufeff\x1c\x85", 400),
        ("a\x00b", 400),
        ("x" * 4000, 201),
        ("x" * 4001, 400),
        (" " + "x" * 4000, 400),
    ],
)
def test_the_documented_body_pattern_is_exactly_what_is_stored(client, body, status):
    alice = UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice)
    _, key = api_token_create(user=alice, name="bot")
    response = client.post(
        f"/api/rooms/{room.id}/messages/",
        {"body": body, "client_id": new_client_id()},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == status, response.json()
    assert set(response.json()) >= ({"id", "body"} if status == 201 else {"code", "detail"})


@pytest.mark.django_db
def test_ninjas_own_answers_carry_the_shared_code(client):
    alice = UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice)
    _, key = api_token_create(user=alice, name="bot")
    unparsable = client.post(
        f"/api/rooms/{room.id}/messages/",
        "\x00",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert (unparsable.status_code, unparsable.json()["code"]) == (400, "bad_request")
    nobody = client.get("/api/rooms/")
    assert (nobody.status_code, nobody.json()["code"]) == (401, "unauthenticated")


@pytest.mark.django_db
def test_no_credential_is_401_and_a_session_without_its_csrf_token_is_403(client):
    alice = UserFactory()
    assert client.post("/api/tickets/").status_code == 401
    assert client.post("/api/tokens/", {"name": "x"}, content_type="application/json").json() == {
        "code": "unauthenticated",
        "detail": "Unauthorized",
    }
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    refused = browser.post("/api/tokens/", {"name": "x"}, content_type="application/json")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert alice.api_tokens.count() == 0


@pytest.mark.django_db
def test_a_session_post_with_a_malformed_multipart_body_is_400_not_500(client):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory())
    csrf = secrets.token_hex(16)
    browser.cookies[settings.CSRF_COOKIE_NAME] = csrf
    response = browser.generic(
        "POST", "/api/tickets/", b"x", content_type="multipart/form-data", HTTP_X_CSRFTOKEN=csrf
    )
    assert (response.status_code, response.json()["code"]) == (400, "bad_request")
