"""Every non-trivial read of chat data, and the one permission check per room."""

from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Window,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce, Lower

from attachments.models import Attachment
from chat import presence
from chat.emoji_data import DEFAULT_FREQUENT, FREQUENT_COUNT
from chat.errors import BadRequest, NotFound
from chat.models import Membership, Message, Reaction, Room, RoomEvent
from chat.serializers import presence_dict
from postgres import prepared_cursor

User = get_user_model()

HISTORY_PAGE = 50
HISTORY_MAX = 100


def room_by_slug(*, slug: str, user) -> Room:
    """A public or private room by slug, with `joined`: whether `user` is a member of it now
    (which the caller checks), in one query."""
    mine = Membership.objects.filter(room=OuterRef("pk"), user_id=user.id)
    try:
        return Room.objects.annotate(joined=Exists(mine)).get(slug=slug)
    except Room.DoesNotExist:
        raise NotFound("No such room.") from None


def direct_partner(*, user, username: str):
    """The other active person of a direct chat with `user`; NotFound for nobody or oneself."""
    other = None
    if user.is_active and "\x00" not in username:  # PostgreSQL text cannot hold NUL
        other = User.objects.filter(username=username, is_active=True).exclude(id=user.id).first()
    if other is None:
        raise NotFound("No such person.")
    return other


def direct_key(*, user, other) -> str:
    """The key that makes a direct room unique per pair of people."""
    low, high = sorted([user.id, other.id])
    return f"{low}:{high}"


def direct_room(*, user, other) -> Room | None:
    """The direct room between two people, or None while neither has started it."""
    return Room.objects.filter(direct_key=direct_key(user=user, other=other)).first()


def search_term_clean(term: str) -> str:
    """Search words as typed, stripped; BadRequest for a NUL, which PostgreSQL text cannot hold."""
    if "\x00" in term:
        raise BadRequest("Search words cannot contain the NUL character.")
    return term.strip()


def room_ids_for_users(*, user_ids: set[int]) -> dict[int, set[int]]:
    """The ids of each user's rooms now, in one query."""
    rooms: dict[int, set[int]] = {user_id: set() for user_id in user_ids}
    memberships = Membership.objects.filter(user_id__any=user_ids).values_list("user_id", "room_id")
    for user_id, room_id in memberships:
        rooms[user_id].add(room_id)
    return rooms


def room_last_seqs(*, room_ids: set[int], before, since=None) -> dict[int, int]:
    """The last seq of each of the rooms whose latest message was stored before `before` (and
    after `since`, if given). In SQL, with the ids as one array literal: every process asks it
    each second, and built with the ORM it cost 0.7 ms of CPU for 700 rooms, now 0.2 ms."""
    sql = "SELECT id, last_seq FROM chat_room WHERE id = ANY(%s::bigint[]) AND last_message_at < %s"
    params = [_array_literal(room_ids), before]
    if since is not None:
        sql += " AND last_message_at >= %s"
        params.append(since)
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def _array_literal(ids) -> str:
    """Integers as one PostgreSQL array literal: the driver quotes one string instead of each
    element in Python."""
    return "{" + ",".join(map(str, ids)) + "}"


# The user's rooms with their summaries, in SQL: put together with the ORM (nested subqueries,
# three queries), the same read cost 4.4 ms of CPU per call whatever the rooms, most of a
# socket's handshake; this one query costs 0.3 ms for one room, 0.8 ms for eight. Read through
# a plain cursor: RawQuerySet's matching of columns to fields cost as much again.
_ROOMS_FOR_USER = """
SELECT {columns}, mine.last_read_seq AS read_seq, mine.role AS my_role,
  unread.messages AS unread_count, unread.mentions AS mentions_count,
  preview.id AS preview_id, preview.seq AS preview_seq, preview.body AS preview_body,
  preview.created_at AS preview_created_at, author.id AS preview_author_id,
  author.username AS preview_author_username, author.first_name AS preview_author_first_name,
  author.last_name AS preview_author_last_name, author.avatar AS preview_author_avatar,
  partner.id AS partner_id, partner.username AS partner_username,
  partner.first_name AS partner_first_name, partner.last_name AS partner_last_name,
  partner.avatar AS partner_avatar
FROM chat_room room
JOIN chat_membership mine ON mine.room_id = room.id AND mine.user_id = %(user)s
-- The preview: the latest message that still stands.
LEFT JOIN LATERAL (
  SELECT id, seq, body, created_at, author_id FROM chat_message
  WHERE room_id = room.id AND deleted_at IS NULL ORDER BY seq DESC LIMIT 1
) preview ON true
LEFT JOIN accounts_user author ON author.id = preview.author_id
-- Unread: others' messages past the read marker that still stand (a deleted one no longer
-- counts, and one's own never does); mentions: those that name the user or the whole room.
CROSS JOIN LATERAL (
  SELECT count(*) AS messages,
    count(*) FILTER (WHERE mentions @> ARRAY[%(user)s]::bigint[] OR mentions_room) AS mentions
  FROM chat_message
  WHERE room_id = room.id AND deleted_at IS NULL AND author_id <> %(user)s
    AND seq > mine.last_read_seq
) unread
-- A direct room's other person.
LEFT JOIN LATERAL (
  SELECT user_id FROM chat_membership
  WHERE room.kind = %(direct)s AND room_id = room.id AND user_id <> %(user)s LIMIT 1
) other ON true
LEFT JOIN accounts_user partner ON partner.id = other.user_id
WHERE %(room)s::bigint IS NULL OR room.id = %(room)s
ORDER BY room.last_message_at DESC NULLS LAST, room.created_at DESC
"""

PERSON_FIELDS = ("id", "username", "first_name", "last_name", "avatar")


def _loaded(model, fields: dict):
    """An instance of `model` as `.only(*fields)` would load it: the other fields deferred."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in fields]
    return model.from_db("default", names, [fields[name] for name in names])


def _person(room: Room, prefix: str):
    """The person (what author_dict shows) whose columns the room's row has under `prefix`."""
    return _loaded(User, {name: getattr(room, prefix + name) for name in PERSON_FIELDS})


@cache
def _rooms_for_user_sql() -> tuple[str, list[str]]:
    """The query, naming each column of the room, and the attribute names they load."""
    fields = Room._meta.concrete_fields
    columns = ", ".join(f"room.{connection.ops.quote_name(f.column)}" for f in fields)
    return _ROOMS_FOR_USER.format(columns=columns), [f.attname for f in fields]


def rooms_for_user(*, user, room_id: int | None = None) -> list[Room]:
    """The user's rooms (or just `room_id`), most recently active first, each with `title`,
    `partner` (for a direct room), `preview` (the latest message that still stands, or None),
    `unread`, `mentions` (unread ones that mention the user or @room), `last_read_seq` and
    `role`; one query whatever their count."""
    sql, names = _rooms_for_user_sql()
    params = {"user": user.id, "room": room_id, "direct": Room.Kind.DIRECT}
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        extras = [column.name for column in cursor.description[len(names) :]] if rows else []
    rooms = []
    for row in rows:
        room = Room.from_db(connection.alias, names, row[: len(names)])
        room.__dict__.update(zip(extras, row[len(names) :], strict=True))
        room.partner = _person(room, "partner_") if room.partner_id else None
        room.title = room_title(room=room, partner=room.partner)
        room.unread = room.unread_count
        room.mentions = room.mentions_count
        room.last_read_seq = room.read_seq
        room.role = room.my_role
        room.preview = None
        if room.preview_id:
            room.preview = Message.from_db(
                "default",
                ["id", "room_id", "author_id", "seq", "body", "created_at"],
                [
                    room.preview_id,
                    room.id,
                    room.preview_author_id,
                    room.preview_seq,
                    room.preview_body,
                    room.preview_created_at,
                ],
            )
            room.preview.author = _person(room, "preview_author_")
        rooms.append(room)
    return rooms


def room_title(*, room: Room, partner) -> str:
    if room.is_direct:
        return partner.display_name if partner else "(nobody)"
    return room.name


def public_rooms_not_joined(*, user) -> list[Room]:
    return list(
        Room.objects.filter(kind=Room.Kind.PUBLIC).exclude(memberships__user=user).order_by("name")
    )


def room_loss_reasons(*, user_id: int, room_ids: set[int]) -> dict[int, str]:
    """Why the user is no longer in each of `room_ids`: "deleted" (the room is gone), "removed"
    (their latest departure was a removal by the owner) or "left"."""
    existing = set(Room.objects.filter(id__in=room_ids).values_list("id", flat=True))
    latest = dict(
        RoomEvent.objects.filter(
            room_id__in=existing,
            user_id=user_id,
            kind__in=[RoomEvent.Kind.LEFT, RoomEvent.Kind.REMOVED],
        )
        .order_by("room_id", "-pos")
        .distinct("room_id")
        .values_list("room_id", "kind")
    )
    return {
        room_id: "deleted"
        if room_id not in existing
        else "removed"
        if latest.get(room_id) == RoomEvent.Kind.REMOVED
        else "left"
        for room_id in room_ids
    }


def public_rooms_with_counts(*, room_id: int | None = None) -> list[Room]:
    """Public rooms by name, each with its number of members and of messages still standing."""
    members = (
        Membership.objects.filter(room=OuterRef("pk"))
        .values("room")
        .annotate(n=Count("id"))
        .values("n")
    )
    messages = (
        Message.objects.filter(room=OuterRef("pk"), deleted_at__isnull=True)
        .values("room")
        .annotate(n=Count("id"))
        .values("n")
    )
    rooms = Room.objects.filter(kind=Room.Kind.PUBLIC).annotate(
        member_count=Coalesce(Subquery(members), 0),
        message_count=Coalesce(Subquery(messages), 0),
    )
    if room_id is not None:
        rooms = rooms.filter(id=room_id)
    return list(rooms.order_by(Lower("name"), "id"))


# Most members a room's member list carries: a public room of 10,000 made each page load and
# `members` frame megabytes and seconds of work; its count says how many there are.
MEMBERS_SHOWN = 200


def room_members(*, room: Room) -> tuple[list[Membership], int]:
    """The room's first MEMBERS_SHOWN members by joining, and how many it has, in one query:
    each row carries the count of them all (a window is counted before the LIMIT)."""
    shown = list(
        Membership.objects.filter(room=room)
        .select_related("user")
        .annotate(members_total=Window(Count("id")))
        .order_by("joined_at", "id")[:MEMBERS_SHOWN]
    )
    return shown, shown[0].members_total if shown else 0


def mention_candidates(
    *, room_id: int, names: set[str]
) -> tuple[str | None, dict[str, tuple[int, str]]]:
    """The room's kind and those of its active members whose lowercase username is in `names`,
    by lowercase username: (id, username). Only the names a message writes are looked up, never
    the whole (perhaps huge) member list."""
    kind = Room.objects.filter(id=room_id).values_list("kind", flat=True).first()
    if not names:
        return kind, {}
    members = (
        Membership.objects.alias(name=Lower("user__username"))
        .filter(room_id=room_id, user__is_active=True, name__in=names)
        .values_list("user_id", "user__username")
    )
    return kind, {username.lower(): (user_id, username) for user_id, username in members}


def messages_shown() -> QuerySet[Message]:
    """Messages with their author and the message replied to, and whether each has reactions
    and attachments; messages_loaded then loads those, for the messages that have any."""
    # Authors with what author_dict shows: whole users took a quarter of the query's time.
    people = [
        f"{relation}__{field.name}"
        for relation in ("author", "reply_to__author")
        for field in User._meta.concrete_fields
        if field.name not in PERSON_FIELDS
    ]
    return (
        Message.objects.select_related("author", "reply_to__author")
        .defer(*people)
        .annotate(
            has_reactions=Exists(Reaction.objects.filter(message=OuterRef("pk"))),
            has_attachments=Exists(Attachment.objects.filter(message=OuterRef("pk"))),
        )
    )


def messages_loaded(messages: list[Message]) -> list[Message]:
    """`messages` (from messages_shown) with everything their serialisation reads: the
    reactions with who reacted and the attachments, in at most two more queries whatever their
    number, and none for a page without any (the usual page: the prefetches' machinery cost
    more than the rest of a page's history)."""
    reacted = [message for message in messages if message.has_reactions]
    reactions = Reaction.objects.select_related("user").order_by("id")
    prefetch_related_objects(reacted, Prefetch("reactions", reactions, to_attr="reaction_rows"))
    prefetch_related_objects(
        [message for message in messages if message.has_attachments], attachments_prefetch()
    )
    for message in messages:
        if not message.has_reactions:
            message.reaction_rows = []
        if not message.has_attachments:
            message.attachment_rows = []
    return messages


def attachments_prefetch() -> Prefetch:
    """A message's attachments, loaded into `attachment_rows` (which serialisation reads)."""
    return Prefetch("attachments", to_attr="attachment_rows")


def frequent_emoji(*, user) -> list[str]:
    """The six emoji the user reacts with most, topped up with common ones."""
    mine = list(
        Reaction.objects.filter(user=user)
        .values("emoji")
        .annotate(uses=Count("id"))
        .order_by("-uses", "emoji")
        .values_list("emoji", flat=True)[:FREQUENT_COUNT]
    )
    return [*mine, *(e for e in DEFAULT_FREQUENT if e not in mine)][:FREQUENT_COUNT]


def messages_around(*, room_id: int, seq: int, limit: int) -> tuple[list[Message], bool, bool]:
    """Up to `limit` messages centred on seq `seq`, oldest first, and whether older and newer
    ones follow."""
    limit = max(1, min(limit, HISTORY_MAX))
    older, has_older = messages_before(room_id=room_id, before=seq, limit=max(1, limit // 2))
    if limit == 1:  # no room for an older one: the message asked for alone
        older, has_older = [], bool(older)
    qs = messages_shown().filter(room_id=room_id, seq__gte=seq)
    newer = messages_loaded(list(qs.order_by("seq")[: limit - len(older) + 1]))
    has_newer = len(newer) > limit - len(older)
    return older + newer[: limit - len(older)], has_older, has_newer


def messages_before(*, room_id: int, before: int | None, limit: int) -> tuple[list[Message], bool]:
    """Up to `limit` messages older than seq `before` (newest when None), oldest first."""
    limit = max(1, min(limit, HISTORY_MAX))
    qs = messages_shown().filter(room_id=room_id)
    if before is not None:
        qs = qs.filter(seq__lt=before)
    page = messages_loaded(list(qs.order_by("-seq")[: limit + 1]))
    has_more = len(page) > limit
    return list(reversed(page[:limit])), has_more


def events_after(*, room_id: int, after: int, limit: int = HISTORY_MAX) -> tuple[list, int, bool]:
    """The room's event stream after position `after`, compacted: each message changed since
    once, in its current state, at the position of its latest change, and each member event;
    oldest first, up to `limit`. Returns (messages and member events, the position the client
    has then seen up to, whether more follow)."""
    limit = max(1, min(limit, HISTORY_MAX))
    # Every position up to the room's last one is committed (each is taken under the room's row
    # lock and written in the same transaction), so reading it first bounds a consistent page.
    last_pos = Room.objects.filter(id=room_id).values_list("last_pos", flat=True).first() or 0
    window = {"room_id": room_id, "pos__gt": after, "pos__lte": last_pos}
    messages = messages_shown().filter(**window).order_by("pos")
    events = RoomEvent.objects.filter(**window).select_related("user").order_by("pos")
    messages = messages_loaded(list(messages[: limit + 1]))
    page = sorted([*messages, *events[: limit + 1]], key=lambda item: item.pos)
    if len(page) > limit:
        return page[:limit], page[limit - 1].pos, True
    return page, last_pos, False


def user_search(*, user, term: str, limit: int = 20) -> list:
    """Active users other than `user` whose username or name contains `term`."""
    term = search_term_clean(term)
    if not term:
        return []
    return list(
        User.objects.filter(is_active=True)
        .exclude(id=user.id)
        .filter(
            Q(username__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
        )
        .order_by("username")[:limit]
    )


SEARCH_RESULTS = 50


def message_search(*, user, term: str) -> list[Message]:
    """The best matches for `term` among messages of the user's rooms (whole words, any
    language: the 'simple' text-search configuration), newest first among equals."""
    term = search_term_clean(term)[:200]
    if not term:
        return []
    query = SearchQuery(term, search_type="websearch", config="simple")
    return list(
        Message.objects.annotate(
            document=SearchVector("body", config="simple"),
        )
        .filter(document=query, deleted_at__isnull=True, room__memberships__user=user)
        .annotate(rank=SearchRank(F("document"), query))
        .select_related("author", "room")
        .order_by("-rank", "-created_at")[:SEARCH_RESULTS]
    )


def room_has_at_most(*, room_id: int, most: int) -> bool:
    """Whether the room has at most `most` members (one row looked at, not a count)."""
    return not Membership.objects.filter(room_id=room_id).order_by("id")[most : most + 1].exists()


def presence_rooms(*, user_id: int) -> list[int]:
    """The user's rooms small enough (CHAT_PRESENCE_ROOM_MAX members) to be told of their
    presence changes live; members of larger rooms ask for it."""
    most = settings.CHAT_PRESENCE_ROOM_MAX
    # A room is too large when it has a member past the most: one row looked at, not a count.
    past_most = Membership.objects.filter(room=OuterRef("pk")).order_by("id")[most : most + 1]
    return list(
        Room.objects.filter(memberships__user_id=user_id)
        .exclude(Exists(past_most))
        .values_list("id", flat=True)
    )


def presence_audience(*, user_id: int) -> tuple[int, int]:
    """How far one presence change of the user reaches: (room groups published to, memberships
    in them). The benchmark's measure of presence fan-out."""
    room_ids = presence_rooms(user_id=user_id)
    return len(room_ids), Membership.objects.filter(room_id__in=room_ids).count()


def people_presence(*, user_ids) -> list[dict]:
    """The presence of these people as others see it, in a fixed number of queries."""
    users = list(
        User.objects.filter(id__in=user_ids)
        .only("id", "show_presence", "last_seen", "is_active")
        .order_by("id")
    )
    statuses = presence.statuses(user_ids=[user.id for user in users])
    return [presence_dict(user, status=statuses[user.id]) for user in users]


def room_receipts(*, room_id: int) -> list[tuple[int, int]]:
    """(user id, read seq) of the room's members who send receipts and have read something."""
    return list(
        Membership.objects.filter(
            room_id=room_id, user__send_read_receipts=True, last_read_seq__gt=0
        )
        .order_by("user_id")
        .values_list("user_id", "last_read_seq")
    )
