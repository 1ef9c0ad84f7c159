"""Files and pictures in chat: upload, post with a message, read as a member, delete."""

import io
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from PIL import Image

from accounts import services as account_services
from attachments.models import Attachment
from attachments.services import attachment_name_clean
from chat import services
from chat.models import Message, Room
from chat.serializers import message_frame
from tests.accounts.images import gif_bomb, image_bytes, png_bomb, upload
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = pytest.mark.django_db


def bearer(user) -> dict:
    _, key = account_services.api_token_create(user=user, name="bot")
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def send_file(client, room_id, content: bytes, name="picture.png", ctype="image/png", **auth):
    return client.post(
        f"/api/rooms/{room_id}/attachments/", {"file": upload(content, name, ctype)}, **auth
    )


def post_message(client, room_id, attachments, body="", **auth):
    return client.post(
        f"/api/rooms/{room_id}/messages/",
        {"body": body, "client_id": new_client_id(), "attachments": attachments},
        content_type="application/json",
        **auth,
    )


def stored(name: str) -> Path:
    return Path(settings.ATTACHMENT_ROOT) / name


def files_on_disk() -> set[Path]:
    return set(Path(settings.ATTACHMENT_ROOT).rglob("*.*"))


def exif_photo() -> bytes:
    """A 60x40 JPEG whose EXIF says: turn me 90 degrees, and here is where I was taken."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 clockwise to view
    exif[0x010F] = "SpyCam"  # camera maker
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), "#3366cc").save(buffer, "JPEG", exif=exif, comment=b"secret")
    return buffer.getvalue()


@pytest.fixture
def alice_room():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    return alice, bob, room


def test_a_bot_uploads_a_picture_and_posts_it_and_a_member_reads_it(client, alice_room):
    alice, bob, room = alice_room
    auth = bearer(alice)
    response = send_file(client, room.id, exif_photo(), "holiday.jpg", "image/jpeg", **auth)
    assert response.status_code == 201, response.json()
    sent = response.json()
    # Turned upright by its EXIF, redrawn as a JPEG without any metadata.
    assert (sent["kind"], sent["content_type"], sent["width"], sent["height"]) == (
        "image",
        "image/jpeg",
        40,
        60,
    )
    attachment = Attachment.objects.get(id=sent["id"])
    redrawn = Image.open(stored(attachment.file.name))
    assert redrawn.size == (40, 60)
    assert not redrawn.getexif() and "comment" not in redrawn.info and "exif" not in redrawn.info
    assert b"SpyCam" not in stored(attachment.file.name).read_bytes()
    assert not str(stored(attachment.file.name)).startswith(str(settings.MEDIA_ROOT))
    assert max(Image.open(stored(attachment.thumbnail.name)).size) <= 480

    posted = post_message(client, room.id, [sent["id"]], body="look", **auth)
    assert posted.status_code == 201, posted.json()
    assert [a["id"] for a in posted.json()["attachments"]] == [sent["id"]]

    reader = Client()
    reader.force_login(bob)
    file = reader.get(sent["url"])
    assert file.status_code == 200
    assert b"".join(file.streaming_content) == stored(attachment.file.name).read_bytes()
    assert file["Content-Type"] == "image/jpeg"
    assert file["Content-Disposition"] == "inline; filename*=UTF-8''holiday.jpg"
    assert file["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in file["Content-Security-Policy"]
    thumbnail = reader.get(sent["thumbnail_url"])
    assert (thumbnail.status_code, thumbnail["Content-Type"]) == (200, "image/jpeg")
    history = reader.get(f"/api/rooms/{room.id}/messages/", **bearer(bob)).json()
    assert history["messages"][0]["attachments"] == [sent]


def test_a_picture_to_be_turned_counts_the_turned_copy_against_the_pixel_limit(
    client, alice_room, settings
):
    settings.IMAGE_MAX_PIXELS = 2 * 60 * 40 - 1  # one turned copy too many for exif_photo()
    alice, _, room = alice_room
    turned = send_file(client, room.id, exif_photo(), "turned.jpg", "image/jpeg", **bearer(alice))
    assert turned.status_code == 400
    assert "dimensions are too large" in turned.json()["detail"]
    upright = image_bytes("JPEG", size=(60, 40))
    assert send_file(client, room.id, upright, "up.jpg", **bearer(alice)).status_code == 201


def test_a_file_that_is_not_a_picture_is_kept_as_sent_and_only_downloaded(client, alice_room):
    alice, bob, room = alice_room
    page = b"<html><script>alert(document.cookie)</script></html>"
    sent = send_file(client, room.id, page, "p\u00e4ge.html", "text/html", **bearer(alice)).json()
    assert (sent["kind"], sent["content_type"], sent["thumbnail_url"]) == (
        "file",
        "text/plain; charset=utf-8",
        None,
    )
    post_message(client, room.id, [sent["id"]], **bearer(alice))
    reader = Client()
    reader.force_login(bob)
    file = reader.get(sent["url"])
    assert b"".join(file.streaming_content) == page
    assert file["Content-Type"] == "text/plain; charset=utf-8"
    assert file["Content-Disposition"] == "attachment; filename*=UTF-8''p%C3%A4ge.html"
    assert file["X-Content-Type-Options"] == "nosniff"
    assert file["Content-Security-Policy"].endswith("sandbox")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"%PDF-1.7\n...", "application/pdf"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
        (b"\xff\xfe\xfd not utf-8", "application/octet-stream"),
        # UTF-8 text longer than the sample, with a character cut at its end.
        (("x" * 8190 + "\U0001f600" * 10).encode(), "text/plain; charset=utf-8"),
        # GIF89a/*...*/=1;alert(1): starts like a GIF but is none; a GIF's name says nothing.
        (b"GIF89a/*\x00\x00*/=1;alert(1)//", None),
    ],
)
def test_the_content_type_comes_from_the_bytes_never_the_client(
    client, alice_room, content, content_type
):
    alice, _, room = alice_room
    response = send_file(client, room.id, content, "x.png", "image/png", **bearer(alice))
    if content_type is None:
        assert response.status_code == 400
        assert "not a picture we can read" in response.json()["detail"]
        assert Attachment.objects.count() == 0
    else:
        assert response.json()["content_type"] == content_type


def test_a_polyglot_picture_loses_everything_but_its_pixels(client, alice_room):
    alice, _, room = alice_room
    gif = image_bytes("GIF", size=(8, 8)) + b"<script>alert(1)</script>"
    sent = send_file(client, room.id, gif, "x.gif", "image/gif", **bearer(alice)).json()
    assert (sent["kind"], sent["content_type"]) == ("image", "image/png")
    saved = stored(Attachment.objects.get(id=sent["id"]).file.name).read_bytes()
    assert b"script" not in saved and saved.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "empty"),
        (image_bytes("PNG", size=(64, 64))[:60], "not a picture we can read"),
        (png_bomb(), "dimensions are too large"),
        (gif_bomb(), "dimensions are too large"),
    ],
    ids=["zero bytes", "truncated PNG", "PNG bomb", "GIF bomb"],
)
def test_hostile_uploads_get_a_clear_400_and_store_nothing(client, alice_room, content, detail):
    alice, _, room = alice_room
    before = files_on_disk()
    response = send_file(client, room.id, content, **bearer(alice))
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert Attachment.objects.count() == 0
    assert files_on_disk() == before


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\secret.txt", "secret.txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("a\x00b\x1bc\nd.txt", "abcd.txt"),
        ("x" * 1000 + ".txt", "x" * 196 + ".txt"),
    ],
)
def test_names_lose_paths_and_control_characters_and_are_capped(client, alice_room, name, shown):
    alice, _, room = alice_room
    response = send_file(client, room.id, b"hello", name, "text/plain", **bearer(alice))
    assert response.json()["name"] == shown
    attachment = Attachment.objects.get()
    assert stored(attachment.file.name).resolve().is_relative_to(Path(settings.ATTACHMENT_ROOT))


@pytest.mark.parametrize(
    ("name", "shown"),
    [("..", "file"), ("\u202e\u200b", "file"), ("a\u00a0\u3000b", "a b"), (None, "file")],
)
def test_a_name_with_nothing_visible_left_is_file(name, shown):
    assert attachment_name_clean(name) == shown


def test_only_ones_own_unposted_uploads_to_the_room_can_be_posted(client, alice_room):
    alice, bob, room = alice_room
    elsewhere = make_room(Room.Kind.PRIVATE, alice)
    alices = send_file(client, room.id, b"a", "a.txt", **bearer(alice)).json()["id"]
    bobs = send_file(client, room.id, b"b", "b.txt", **bearer(bob)).json()["id"]
    other_room = send_file(client, elsewhere.id, b"c", "c.txt", **bearer(alice)).json()["id"]
    for ids in ([bobs], [other_room], [alices, bobs], [2**40]):
        refused = post_message(client, room.id, ids, body="x", **bearer(alice))
        assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    assert Message.objects.count() == 0
    assert post_message(client, room.id, [alices], **bearer(alice)).status_code == 201
    again = post_message(client, room.id, [alices], **bearer(alice))
    assert again.status_code == 404


def test_a_message_needs_text_or_attachments_and_at_most_the_limit(client, alice_room, settings):
    settings.ATTACHMENT_MAX_PER_MESSAGE = 2
    alice, _, room = alice_room
    assert post_message(client, room.id, [], body="  ", **bearer(alice)).status_code == 400
    ids = [send_file(client, room.id, b"f", "f.txt", **bearer(alice)).json()["id"] for _ in "abc"]
    too_many = post_message(client, room.id, ids, **bearer(alice))
    assert too_many.status_code == 400
    only_files = post_message(client, room.id, ids[:2], **bearer(alice))
    assert (only_files.status_code, only_files.json()["body"]) == (201, "")


def test_too_large_files_are_413_and_the_daily_bytes_429(client, alice_room, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    settings.ATTACHMENT_DAILY_BYTES = 2500
    alice, _, room = alice_room
    big = send_file(client, room.id, b"x" * 1001, "big.bin", **bearer(alice))
    assert (big.status_code, big.json()["code"]) == (413, "too_large")
    for _ in range(2):
        assert send_file(client, room.id, b"x" * 1000, "ok.bin", **bearer(alice)).status_code == 201
    over = send_file(client, room.id, b"x" * 1000, "over.bin", **bearer(alice))
    assert (over.status_code, over.json()["code"]) == (429, "rate_limited")
    assert 0 < over.json()["retry_after"] <= 86400
    assert Attachment.objects.count() == 2


def test_uploads_share_the_posting_rate(client, alice_room, settings):
    settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST = 0.1, 2
    settings.REDIS_URL = ""  # this process's buckets
    alice, _, room = alice_room
    answers = [send_file(client, room.id, b"x", "x.txt", **bearer(alice)) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["retry_after"] > 0
    assert Attachment.objects.count() == 2


def test_a_body_larger_than_any_upload_is_refused_while_it_streams(client, alice_room, settings):
    settings.UPLOAD_MAX_BYTES = 70 * 1024
    alice, _, room = alice_room
    response = send_file(client, room.id, b"x" * (200 * 1024), "big.bin", **bearer(alice))
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    assert Attachment.objects.count() == 0


def test_deleting_a_message_deletes_its_files(
    client, alice_room, django_capture_on_commit_callbacks
):
    alice, _, room = alice_room
    sent = send_file(client, room.id, image_bytes("PNG"), **bearer(alice)).json()
    message = post_message(client, room.id, [sent["id"]], **bearer(alice)).json()
    attachment = Attachment.objects.get()
    files = [stored(attachment.file.name), stored(attachment.thumbnail.name)]
    assert all(f.exists() for f in files)
    with django_capture_on_commit_callbacks(execute=True):
        deleted = services.message_delete(actor=alice, room_id=room.id, message_id=message["id"])
    assert not any(f.exists() for f in files)
    assert Attachment.objects.count() == 0
    assert message_frame(deleted)["message"]["attachments"] == []
    owner = Client()
    owner.force_login(alice)
    assert owner.get(sent["url"]).status_code == 404


def test_deleting_a_room_deletes_its_files(client, alice_room, django_capture_on_commit_callbacks):
    alice, _, room = alice_room
    sent = send_file(client, room.id, b"notes", "n.txt", **bearer(alice)).json()
    post_message(client, room.id, [sent["id"]], **bearer(alice))
    path = stored(Attachment.objects.get().file.name)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_delete(actor=alice, room_id=room.id)
    assert not path.exists() and Attachment.objects.count() == 0


def test_unposted_uploads_older_than_a_day_are_cleaned_up(
    client, alice_room, django_capture_on_commit_callbacks
):
    alice, _, room = alice_room
    ids = [
        send_file(client, room.id, b"x", f"{n}.txt", **bearer(alice)).json()["id"] for n in "abc"
    ]
    post_message(client, room.id, [ids[0]], **bearer(alice))
    Attachment.objects.filter(id__in=ids[:2]).update(
        created_at=Attachment.objects.get(id=ids[0]).created_at - timedelta(days=2)
    )
    stale = stored(Attachment.objects.get(id=ids[1]).file.name)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("attachments_cleanup")
    assert set(Attachment.objects.values_list("id", flat=True)) == {ids[0], ids[2]}
    assert not stale.exists()


def test_files_of_a_deleted_user_go_with_the_next_cleanup(
    client, alice_room, django_capture_on_commit_callbacks
):
    alice, bob, room = alice_room
    sent = send_file(client, room.id, b"from bob", "b.txt", **bearer(bob)).json()
    post_message(client, room.id, [sent["id"]], **bearer(bob))
    kept = send_file(client, room.id, b"from alice", "a.txt", **bearer(alice)).json()
    post_message(client, room.id, [kept["id"]], **bearer(alice))
    orphan = stored(Attachment.objects.get(id=sent["id"]).file.name)
    bob.delete()
    day_old = (timezone.now() - timedelta(days=2)).timestamp()
    for path in Path(settings.ATTACHMENT_ROOT).rglob("*.*"):
        os.utime(path, (day_old, day_old))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("attachments_cleanup")
    assert not orphan.exists()
    assert stored(Attachment.objects.get(id=kept["id"]).file.name).exists()


def test_an_unposted_upload_is_readable_by_its_uploader_alone(client, alice_room):
    alice, bob, room = alice_room
    sent = send_file(client, room.id, b"draft", "d.txt", **bearer(alice)).json()
    assert client.get(sent["url"], **bearer(alice)).status_code == 200
    assert client.get(sent["url"], **bearer(bob)).status_code == 404


def test_a_bot_downloads_through_the_api_streamed_and_an_outsider_gets_json_404(client, alice_room):
    alice, _, room = alice_room
    content = os.urandom(300_000)
    sent = send_file(client, room.id, content, "data.bin", **bearer(alice)).json()
    post_message(client, room.id, [sent["id"]], **bearer(alice))
    download = client.get(f"/api/attachments/{sent['id']}/", **bearer(alice))
    assert download.streaming
    assert b"".join(download.streaming_content) == content
    assert download["Content-Disposition"] == "attachment; filename*=UTF-8''data.bin"
    outsider = client.get(f"/api/attachments/{sent['id']}/", **bearer(UserFactory()))
    assert (outsider.status_code, outsider.json()["code"]) == (404, "not_found")


def test_with_an_accel_prefix_the_proxy_sends_the_file(client, alice_room, settings):
    settings.ATTACHMENT_ACCEL_REDIRECT_PREFIX = "/_attachments/"
    alice, _, room = alice_room
    sent = send_file(client, room.id, b"%PDF-1.4 x", "r.pdf", **bearer(alice)).json()
    response = client.get(sent["url"], **bearer(alice))
    name = Attachment.objects.get().file.name
    assert response["X-Accel-Redirect"] == f"/_attachments/{name}"
    assert response.content == b""
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == "attachment; filename*=UTF-8''r.pdf"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel_layer", ["memory", "redis"], indirect=True)
async def test_a_socket_send_carries_attachments_live_and_in_sync(channel_layer, sockets):
    alice, bob = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    room = await sync_to_async(make_room)(Room.Kind.PRIVATE, alice, bob)

    def upload_one() -> dict:
        return send_file(Client(), room.id, image_bytes("PNG"), **bearer(alice)).json()

    sent = await sync_to_async(upload_one)()
    alice_socket, _ = await sockets(alice)
    bob_socket, _ = await sockets(bob)
    frame = {"type": "send", "room": room.id, "client_id": str(uuid.uuid4())}
    await alice_socket.send(**frame, attachments=[sent["id"]])
    live = await bob_socket.receive_type("message")
    assert live["message"]["body"] == ""
    assert live["message"]["attachments"] == [sent]
    await bob_socket.send(type="sync", room=room.id, after=0)
    replay = await bob_socket.receive_type("sync")
    assert replay["messages"][0]["attachments"] == [sent]
    await alice_socket.send(type="send", room=room.id, client_id=str(uuid.uuid4()))
    error = await alice_socket.receive_type("error")
    assert (error["code"], error["detail"]) == ("bad_request", "The message body must be text.")
