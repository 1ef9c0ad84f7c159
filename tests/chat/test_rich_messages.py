"""Rich messages on the room's stream: formatting stored beside the source, mentions (and their
unread counts), reactions and replies, live over the socket, replayed by sync, and over the API."""

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from accounts.services import api_token_create
from chat import queries, services
from chat.errors import BadRequest, Forbidden, NotFound
from chat.models import Message, Room
from chat.serializers import message_dict
from tests.factories import UserFactory, make_room, new_client_id

THUMBS = "👍"
PARTY = "🎉"


def post(author, room, body, **extra) -> Message:
    message, _ = services.message_post(
        author=author, room_id=room.id, body=body, client_id=new_client_id(), **extra
    )
    return message


def people(*names):
    return [UserFactory(username=name) for name in names]


# Formatting and mentions (services, no socket).


@pytest.mark.django_db
def test_a_message_is_stored_with_its_rendered_html_beside_the_source():
    alice, bob = people("alice", "bob")
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    message = post(alice, room, "**hi** @bob <script>x</script>")
    message.refresh_from_db()
    assert message.body == "**hi** @bob <script>x</script>"
    assert message.body_html == (
        f'<p><strong>hi</strong> <span class="mention" data-user-id="{bob.id}">@bob</span> '
        "&lt;script&gt;x&lt;/script&gt;</p>"
    )
    assert message.mentions == [bob.id]
    services.message_edit(editor=alice, room_id=room.id, message_id=message.id, body="_bye_")
    message.refresh_from_db()
    assert (message.body_html, message.mentions) == ("<p><em>bye</em></p>", [])


@pytest.mark.django_db
def test_mentioning_a_non_member_is_plain_text_and_reads_like_nobody():
    alice, bob, _carol, gone = people("alice", "bob", "carol", "gone")
    gone.is_active = False
    gone.save()
    room = make_room(Room.Kind.PRIVATE, alice, bob, gone)
    stranger = post(alice, room, "hi @carol")  # carol exists, but is not in the room
    nobody = post(alice, room, "hi @nosuchperson")
    inactive = post(alice, room, "hi @gone")
    myself = post(alice, room, "hi @alice")
    assert stranger.body_html == "<p>hi @carol</p>"
    assert inactive.body_html == "<p>hi @gone</p>"
    assert myself.body_html == "<p>hi @alice</p>"
    assert nobody.body_html == "<p>hi @nosuchperson</p>"
    for message in (stranger, nobody, inactive, myself):
        assert (message.mentions, message.mentions_room) == ([], False)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "author", "notifies"),
    [
        ("private", "owner", True),
        ("private", "member", False),
        ("public", "staff", True),
        ("public", "owner", False),  # a public room's creator who is no longer staff
        ("public", "member", False),
        ("direct", "member", False),
    ],
)
def test_only_a_private_rooms_owner_or_staff_in_a_public_room_can_mention_the_room(
    kind, author, notifies
):
    owner, member, staff = people("owner", "member", "staff")
    staff.is_staff = True
    staff.save()
    members = (owner, member) if kind == "direct" else (owner, member, staff)
    room = make_room(kind, *members)
    writer = {"owner": owner, "member": member, "staff": staff}[author]
    message = post(writer, room, "@room meeting now")
    assert message.mentions_room is notifies
    assert ('class="mention mention-room"' in message.body_html) is notifies


@pytest.mark.django_db
def test_unread_mentions_count_per_room_for_the_mentioned_only():
    alice, bob, carol = people("alice", "bob", "carol")
    room = make_room(Room.Kind.PRIVATE, alice, bob, carol)
    post(alice, room, "hello @bob")  # 1: counts for bob
    read_upto = post(alice, room, "@room all of you")  # 2: counts for bob and carol
    deleted = post(alice, room, "again @bob")  # deleted below: stops counting
    post(bob, room, "@bob talking to myself")  # one's own never counts
    post(alice, room, "@carol only")
    services.message_delete(actor=alice, room_id=room.id, message_id=deleted.id)

    def mentions(user):
        return queries.rooms_for_user(user=user, room_id=room.id)[0].mentions

    assert (mentions(bob), mentions(carol), mentions(alice)) == (2, 2, 0)
    services.room_mark_read(user=bob, room_id=room.id, seq=read_upto.seq)
    assert mentions(bob) == 0


# Replies.


@pytest.mark.django_db
def test_a_reply_quotes_its_original_and_shows_it_deleted_once_deleted():
    alice, bob = people("alice", "bob")
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    original = post(alice, room, "  a **long**\n\nthought " + "x" * 200)
    reply = post(bob, room, "agreed", reply_to=original.id)
    quoted = message_dict(reply)["reply_to"]
    assert quoted["id"] == original.id and quoted["seq"] == original.seq
    assert quoted["author"] == {"id": alice.id, "display_name": alice.display_name}
    assert quoted["excerpt"].startswith("a **long** thought xxx") and len(quoted["excerpt"]) == 140
    assert quoted["deleted"] is False
    services.message_delete(actor=alice, room_id=room.id, message_id=original.id)
    reply.refresh_from_db()
    assert message_dict(reply)["reply_to"] == {**quoted, "excerpt": "", "deleted": True}


@pytest.mark.django_db
def test_a_reply_names_a_standing_message_of_the_same_room_or_nothing_is_stored():
    alice, bob = people("alice", "bob")
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    # Alice is in the other room too: a reply still names a message of its own room only.
    elsewhere = post(bob, make_room(Room.Kind.PRIVATE, bob, alice), "another room")
    gone = post(alice, room, "soon gone")
    services.message_delete(actor=alice, room_id=room.id, message_id=gone.id)
    for target in (elsewhere.id, gone.id, 2_000_000_000):
        with pytest.raises(NotFound) as error:
            post(alice, room, "reply", reply_to=target)
        assert error.value.detail == "No such message to reply to."
    assert Message.objects.filter(body="reply").count() == 0


# Reactions (services).


@pytest.mark.django_db
def test_reactions_group_by_emoji_with_who_and_are_idempotent(settings):
    alice, bob, carol = people("alice", "bob", "carol")
    room = make_room(Room.Kind.PRIVATE, alice, bob, carol)
    message = post(alice, room, "vote")
    for user, emoji in [(bob, THUMBS), (carol, THUMBS), (bob, PARTY), (bob, THUMBS)]:
        services.reaction_add(user=user, room_id=room.id, message_id=message.id, emoji=emoji)
    message = queries.messages_shown().get(id=message.id)
    assert message_dict(message)["reactions"] == [
        {
            "emoji": THUMBS,
            "count": 2,
            "users": [
                {"id": bob.id, "display_name": bob.display_name},
                {"id": carol.id, "display_name": carol.display_name},
            ],
        },
        {"emoji": PARTY, "count": 1, "users": [{"id": bob.id, "display_name": bob.display_name}]},
    ]
    services.reaction_remove(user=carol, room_id=room.id, message_id=message.id, emoji=THUMBS)
    services.reaction_remove(user=carol, room_id=room.id, message_id=message.id, emoji=THUMBS)
    message = queries.messages_shown().get(id=message.id)
    assert [(r["emoji"], r["count"]) for r in message_dict(message)["reactions"]] == [
        (THUMBS, 1),
        (PARTY, 1),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "emoji", ["x", "", "👍👍", "👍 ", ":thumbs_up:", None, 1, ["👍"], "\u200d", "a" * 40]
)
def test_a_reaction_must_be_one_listed_emoji(emoji):
    alice = UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice)
    message = post(alice, room, "hi")
    with pytest.raises(BadRequest):
        services.reaction_add(user=alice, room_id=room.id, message_id=message.id, emoji=emoji)
    assert not message.reactions.exists()


@pytest.mark.django_db
def test_one_person_has_a_limited_number_of_different_reactions_per_message(settings):
    settings.CHAT_REACTIONS_PER_MESSAGE = 2
    alice, bob = people("alice", "bob")
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    message = post(alice, room, "hi")
    for emoji in (THUMBS, PARTY):
        services.reaction_add(user=bob, room_id=room.id, message_id=message.id, emoji=emoji)
    with pytest.raises(Forbidden):
        services.reaction_add(user=bob, room_id=room.id, message_id=message.id, emoji="😂")
    services.reaction_add(user=alice, room_id=room.id, message_id=message.id, emoji="😂")
    services.reaction_add(user=bob, room_id=room.id, message_id=message.id, emoji=THUMBS)
    assert message.reactions.filter(user=bob).count() == 2


@pytest.mark.django_db
def test_deleting_a_message_takes_its_reactions_and_no_one_reacts_to_it_after():
    alice, bob = people("alice", "bob")
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    message = post(alice, room, "hi")
    services.reaction_add(user=bob, room_id=room.id, message_id=message.id, emoji=THUMBS)
    services.message_delete(actor=alice, room_id=room.id, message_id=message.id)
    assert not message.reactions.exists()
    with pytest.raises(NotFound):
        services.reaction_add(user=bob, room_id=room.id, message_id=message.id, emoji=THUMBS)


@pytest.mark.django_db
def test_history_with_reactions_and_replies_takes_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    alice, bob = people("alice", "bob")
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    previous = None
    for n in range(20):
        previous = post(alice, room, f"m{n}", reply_to=previous.id if previous else None)
        services.reaction_add(user=bob, room_id=room.id, message_id=previous.id, emoji=THUMBS)
    # The messages and their reactions, whatever their number (none has attachments).
    with django_assert_max_num_queries(2):
        messages, _ = queries.messages_before(room_id=room.id, before=None, limit=50)
        dicts = [message_dict(m) for m in messages]
    assert all(d["reactions"][0]["count"] == 1 for d in dicts)
    assert [d["reply_to"]["seq"] for d in dicts[1:]] == list(range(1, 20))


# Live over the socket, and replayed by sync.


@sync_to_async
def a_room_of_three():
    alice, bob, carol = people("alice", "bob", "carol")
    room = make_room(Room.Kind.PRIVATE, alice, bob, carol)
    return alice, bob, carol, room


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_reactions_go_live_to_everyone_and_sync_replays_their_state(sockets):
    alice, bob, carol, room = await a_room_of_three()
    a, hello = await sockets(alice)
    b, _ = await sockets(bob)
    await a.send(type="send", room=room.id, body="lunch?", client_id=new_client_id())
    message = (await a.receive_type("message"))["message"]
    await b.receive_type("message")
    await b.send(type="react", room=room.id, id=message["id"], emoji=THUMBS)
    for client in (a, b):
        frame = await client.receive_type("message.updated")
        assert frame["pos"] == hello["rooms"][0]["last_pos"] + 2
        assert frame["message"]["reactions"] == [
            {
                "emoji": THUMBS,
                "count": 1,
                "users": [{"id": bob.id, "display_name": bob.display_name}],
            }
        ]
    # Carol was away: sync from before the message replays it once, with its reaction.
    c, _ = await sockets(carol)
    await c.send(type="sync", room=room.id, after=frame["pos"] - 2)
    replay = await c.receive_type("sync")
    assert [(e["pos"], e["message"]["reactions"][0]["emoji"]) for e in replay["events"]] == [
        (frame["pos"], THUMBS)
    ]
    await b.send(type="unreact", room=room.id, id=message["id"], emoji=THUMBS)
    gone = await a.receive_type("message.updated")
    assert (gone["pos"], gone["message"]["reactions"]) == (frame["pos"] + 1, [])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_bad_reactions_are_clear_errors_and_outsiders_get_not_found(sockets):
    alice, bob, _carol, room = await a_room_of_three()
    theirs = await sync_to_async(make_room)(Room.Kind.PRIVATE, alice)
    secret = await sync_to_async(post)(alice, theirs, "not for bob")
    mine = await sync_to_async(post)(alice, room, "for bob")
    b, _ = await sockets(bob)
    await b.send(type="react", room=room.id, id=mine.id, emoji="no")
    assert (await b.receive_type("error"))["code"] == "bad_request"
    await b.send(type="react", room=room.id, id=mine.id)
    assert (await b.receive_type("error"))["code"] == "bad_request"
    answers = []
    for room_id, message_id in [(theirs.id, secret.id), (room.id, secret.id), (room.id, 10**12)]:
        await b.send(type="react", room=room_id, id=message_id, emoji=THUMBS)
        error = await b.receive_type("error")
        answers.append((error["code"], error["detail"]))
    assert answers[0] == ("not_found", "No such room.")
    assert answers[1] == answers[2] == ("not_found", "No such message.")
    assert await b.nothing()
    assert not await secret.reactions.aexists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_mentions_and_replies_go_live_and_members_are_listed(sockets):
    alice, bob, _carol, room = await a_room_of_three()
    a, _ = await sockets(alice)
    b, _ = await sockets(bob)
    await a.send(type="members", room=room.id)
    listed = await a.receive_type("members")
    assert [m["username"] for m in listed["members"]] == ["alice", "bob", "carol"]
    await a.send(type="send", room=room.id, body="**look** @bob", client_id=new_client_id())
    await a.receive_type("message")
    original = (await b.receive_type("message"))["message"]
    assert original["mentions"] == [bob.id] and "<strong>look</strong>" in original["body_html"]
    await b.send(
        type="send", room=room.id, body="yes", client_id=new_client_id(), reply_to=original["id"]
    )
    reply = (await a.receive_type("message"))["message"]
    assert reply["reply_to"]["id"] == original["id"]
    assert reply["reply_to"]["excerpt"] == "**look** @bob"
    cid = new_client_id()
    await b.send(type="send", room=room.id, body="x", client_id=cid, reply_to="1")
    error = await b.receive_type("error")
    assert (error["code"], error["client_id"]) == ("bad_request", cid)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_hello_counts_unread_mentions(sockets):
    alice, bob, _carol, room = await a_room_of_three()
    await sync_to_async(post)(alice, room, "@bob and @carol")
    await sync_to_async(post)(alice, room, "just talk")
    _, hello = await sockets(bob)
    assert [r["mentions"] for r in hello["rooms"] if r["id"] == room.id] == [1]


# The JSON API: a bot posts formatted text, mentions, replies and reacts.


@pytest.mark.django_db
def test_a_bot_posts_formatting_mentions_replies_and_reacts_over_the_api():
    alice, bob = people("alice", "bob")
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    original = post(bob, room, "deploy?")
    _, key = api_token_create(user=alice, name="bot")
    bot = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    posted = bot.post(
        f"/api/rooms/{room.id}/messages/",
        {"body": "_done_ @bob", "client_id": new_client_id(), "reply_to": original.id},
        content_type="application/json",
    )
    assert posted.status_code == 201, posted.json()
    body = posted.json()
    assert body["body_html"].startswith('<p><em>done</em> <span class="mention"')
    assert (body["mentions"], body["reply_to"]["id"]) == ([bob.id], original.id)
    url = f"/api/rooms/{room.id}/messages/{original.id}/reactions/{THUMBS}/"
    added = bot.put(url)
    assert added.status_code == 200
    assert added.json()["reactions"][0]["users"] == [
        {"id": alice.id, "display_name": alice.display_name}
    ]
    assert bot.delete(url).json()["reactions"] == []
    members = bot.get(f"/api/rooms/{room.id}/members/").json()
    assert [m["username"] for m in members["members"]] == ["alice", "bob"]
    assert members["count"] == 2
    assert bot.get("/api/rooms/").json()[0]["mentions"] == 0
    bad = bot.put(f"/api/rooms/{room.id}/messages/{original.id}/reactions/x/")
    assert (bad.status_code, bad.json()["code"]) == (400, "bad_request")


@pytest.mark.django_db
def test_an_outsider_cannot_react_list_members_or_reply_over_the_api():
    alice, bob, eve = people("alice", "bob", "eve")
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    original = post(bob, room, "private")
    _, key = api_token_create(user=eve, name="eve")
    eve_bot = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    missing = eve_bot.get("/api/rooms/2000000000/members/")
    assert eve_bot.get(f"/api/rooms/{room.id}/members/").json() == missing.json()
    react = eve_bot.put(f"/api/rooms/{room.id}/messages/{original.id}/reactions/{THUMBS}/")
    assert (react.status_code, react.json()["detail"]) == (404, "No such room.")
    own = make_room(Room.Kind.PRIVATE, eve)
    reply = eve_bot.post(
        f"/api/rooms/{own.id}/messages/",
        json.dumps({"body": "hi", "client_id": new_client_id(), "reply_to": original.id}),
        content_type="application/json",
    )
    assert (reply.status_code, reply.json()["detail"]) == (404, "No such message to reply to.")
    assert not original.reactions.exists() and not Message.objects.filter(author=eve).exists()


@pytest.mark.django_db
def test_the_emoji_picker_lists_searchable_emoji_and_my_six_most_used(client):
    alice = UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice)
    for n, emoji in enumerate(["🦊", "🦊", "🌮"]):
        message = post(alice, room, f"m{n}")
        services.reaction_add(user=alice, room_id=room.id, message_id=message.id, emoji=emoji)
    assert client.get("/chat/emoji/").status_code == 302  # signed-in people only
    client.force_login(alice)
    data = client.get("/chat/emoji/").json()
    assert data["frequent"] == ["🦊", "🌮", "👍", "❤️", "😂", "🎉"]
    names = dict(data["emoji"])
    assert "thumbs up" in names[THUMBS] and "+1" in names[THUMBS]
    assert len(names) > 1500


@pytest.mark.django_db(transaction=True)
def test_the_migration_renders_the_messages_stored_before_it():
    before = [("chat", "0007_message_body_or_attachments")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    author = UserFactory(username="old")  # accounts' migrations stay where they are
    room = old.get_model("chat", "Room").objects.create(kind="private", name="Old", slug="old")
    OldMessage = old.get_model("chat", "Message")
    fields = {"room": room, "author_id": author.id, "client_id": uuid.uuid4()}
    kept = OldMessage.objects.create(body="**old** <b>news</b>", seq=1, pos=1, **fields)
    fields["client_id"] = uuid.uuid4()
    gone = OldMessage.objects.create(body="", deleted_at=timezone.now(), seq=2, pos=2, **fields)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        rendered = dict(Message.objects.values_list("id", "body_html"))
        assert rendered == {
            kept.id: "<p><strong>old</strong> &lt;b&gt;news&lt;/b&gt;</p>",
            gone.id: "",
        }
    finally:
        Room.objects.all().delete()
        author.delete()


@pytest.mark.django_db
def test_posting_looks_up_only_the_members_a_message_names():
    alice, bob = people("alice", "bob")
    room = make_room(Room.Kind.PUBLIC, alice, bob, *UserFactory.create_batch(300))
    kind, members = queries.mention_candidates(room_id=room.id, names={"bob", "nobody"})
    assert (kind, members) == (Room.Kind.PUBLIC, {"bob": (bob.id, "bob")})
    assert queries.mention_candidates(room_id=room.id, names=set()) == (Room.Kind.PUBLIC, {})
    assert post(alice, room, "hi @Bob and @nobody").mentions == [bob.id]
