"""The JSON API for bots and scripts (OpenAPI at /api/docs). Same permission helper, same
validation and same error codes as the socket."""

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from ninja import Field, NinjaAPI, Path, Query, Schema, Status
from ninja.errors import HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth
from pydantic import ValidationInfo, WithJsonSchema, field_validator

from accounts import services as account_services
from accounts.models import ApiToken
from attachments.schemas import AttachmentOut
from chat import access, queries, services
from chat.errors import ChatError, NotFound
from chat.models import BIGINT_MAX
from chat.serializers import member_dict, message_dict, message_dicts, room_dict

Id = Path(..., ge=1, le=BIGINT_MAX)
AttachmentId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]

# What message_body_clean accepts, said so that the document is exact: no NUL, and one character
# that no regex dialect (nor str.strip) counts as white space or control, so the body is never
# empty after stripping. Spelled out because \s differs between Python, Rust and JavaScript.
NOT_BLANK = r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
BODY_PATTERN = rf"^[^\u0000]*[^{NOT_BLANK}][^\u0000]*$"
NO_NUL_PATTERN = r"^[^\u0000]*$"

# The statuses of django-ninja's own HttpErrors: an unparsable body, no credential, no CSRF token.
HTTP_ERROR_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden"}


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        api_token = account_services.api_token_authenticate(key=token)
        if api_token is None:
            return None
        request.user = api_token.user
        request.api_token = api_token
        return api_token.user


class BrowserSession(SessionAuth):
    """The signed-in browser session; CSRF is checked only when there is a session to ride, so a
    request with no credential at all is told 401, not 403."""

    def __call__(self, request):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


browser_session = BrowserSession()

api = NinjaAPI(
    title="Parley API",
    version="1",
    urls_namespace="api",
    auth=[BearerToken(), browser_session],
    docs_url="/docs",
)


class ErrorOut(Schema):
    code: str
    detail: str
    retry_after: float | None = Field(None, description="Seconds to wait (429 only).")


def errors(*statuses: int) -> dict:
    """The error answers of an operation, each with the shared {code, detail} body."""
    return dict.fromkeys(statuses, ErrorOut)


class AuthorOut(Schema):
    id: int
    username: str
    display_name: str
    avatar_url: str


# One emoji a reaction may carry. As an enum its ~4,000 values made the document 300 KB (and a
# contract run enumerate them all); it is a string of the custom format "emoji" instead: a
# fully-qualified emoji of Unicode's emoji data (chat.emoji_data), anything else answered 400.
Emoji = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "format": "emoji",
            "description": "One fully-qualified emoji, e.g. 👍 (percent-encoded in the URL).",
        }
    ),
]


class MemberOut(AuthorOut):
    role: str


class MembersOut(Schema):
    members: list[MemberOut] = Field(
        description=f"The first {queries.MEMBERS_SHOWN} members, by joining."
    )
    count: int = Field(description="How many members the room has.")


class ReactorOut(Schema):
    id: int
    display_name: str


class ReplyOut(Schema):
    id: int
    seq: int
    author: ReactorOut
    excerpt: str = Field(description="Plain text; empty once the original is deleted.")
    deleted: bool


class ReactionOut(Schema):
    emoji: str
    count: int
    users: list[ReactorOut]


class MessageOut(Schema):
    id: int
    room: int
    seq: int
    author: AuthorOut
    body: str = Field(description="The Markdown source, as written.")
    body_html: str = Field(description="The body rendered and sanitised by the server.")
    mentions: list[int] = Field(description="Ids of the members mentioned by @username.")
    mentions_room: bool = Field(description="@room: the whole room was notified.")
    reply_to: ReplyOut | None
    reactions: list[ReactionOut]
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    client_id: UUID
    attachments: list[AttachmentOut]


class PreviewAuthorOut(Schema):
    id: int
    username: str
    display_name: str


class PreviewOut(Schema):
    seq: int
    author: PreviewAuthorOut
    body: str
    created_at: datetime


class RoomOut(Schema):
    id: int
    kind: str
    name: str
    slug: str | None
    url: str
    last_seq: int
    last_pos: int
    last_message_at: datetime | None
    last_read_seq: int
    unread: int
    mentions: int = Field(description="Unread messages that mention me or @room.")
    role: str
    preview: PreviewOut | None
    partner: AuthorOut | None
    avatar_url: str | None


class HistoryOut(Schema):
    room: int
    messages: list[MessageOut]
    has_more: bool


class MessageIn(Schema):
    attachments: list[AttachmentId] = Field(
        default_factory=list,
        max_length=settings.ATTACHMENT_MAX_PER_MESSAGE,
        description="Ids of your own uploads to this room, not yet posted.",
    )
    body: str = Field("", max_length=settings.CHAT_MESSAGE_MAX_LENGTH, pattern=NO_NUL_PATTERN)
    client_id: UUID
    reply_to: int | None = Field(
        None, ge=1, le=BIGINT_MAX, description="The id of a message of the same room."
    )

    # A message has text, attachments, or both: said in the document as the server checks it.
    model_config = {
        "json_schema_extra": {
            "anyOf": [
                {"required": ["body"], "properties": {"body": {"pattern": BODY_PATTERN}}},
                {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
            ]
        }
    }

    @field_validator("body")
    @classmethod
    def text_or_attachments(cls, body: str, info: ValidationInfo) -> str:
        if not info.data.get("attachments") and not re.fullmatch(BODY_PATTERN, body):
            raise ValueError("A message needs text (not only blanks) or attachments.")
        return body


class TokenIn(Schema):
    name: str = Field(max_length=100, pattern=NO_NUL_PATTERN)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    key: str


class TicketOut(Schema):
    ticket: str
    expires_in: int


@api.exception_handler(ChatError)
def chat_error(request, error: ChatError):
    body = {"code": error.code, "detail": error.detail, **error.extra}
    return api.create_response(request, body, status=error.status)


@api.exception_handler(ValidationError)
def validation_error(request, error: ValidationError):
    fields = sorted({".".join(str(p) for p in e["loc"][1:]) for e in error.errors})
    too_long = all(e["type"] == "string_too_long" for e in error.errors)
    body = {
        "code": "too_long" if too_long else "bad_request",
        "detail": f"Invalid or missing: {', '.join(fields)}.",
    }
    return api.create_response(request, body, status=400)


@api.exception_handler(HttpError)
def http_error(request, error: HttpError):
    """Ninja's own answers (401, CSRF's 403, an unparsable body) in the shared error shape."""
    code = HTTP_ERROR_CODES.get(error.status_code, "bad_request")
    body = {"code": code, "detail": str(error)}
    return api.create_response(request, body, status=error.status_code)


def unreadable_request(request, error: Exception):
    """A body too large or malformed to read (met by the CSRF check too): 400, as Django says."""
    body = {"code": "bad_request", "detail": "The request cannot be read."}
    return api.create_response(request, body, status=400)


api.add_exception_handler(SuspiciousOperation, unreadable_request)
api.add_exception_handler(MultiPartParserError, unreadable_request)


@api.get("/rooms/", response={200: list[RoomOut], **errors(401)}, summary="List my rooms")
def rooms(request):
    return [room_dict(room) for room in queries.rooms_for_user(user=request.user)]


@api.get(
    "/rooms/{room_id}/messages/",
    response={200: HistoryOut, **errors(400, 401, 404)},
    summary="A page of a room's history, oldest first",
)
def room_messages(
    request,
    room_id: int = Id,
    before: int | None = Query(None, ge=0, le=BIGINT_MAX),
    limit: int = Query(queries.HISTORY_PAGE, ge=1, le=queries.HISTORY_MAX),
):
    access.room_for_member(user=request.user, room_id=room_id)
    messages, has_more = queries.messages_before(room_id=room_id, before=before, limit=limit)
    return {"room": room_id, "messages": message_dicts(messages), "has_more": has_more}


@api.post(
    "/rooms/{room_id}/messages/",
    response={200: MessageOut, 201: MessageOut, **errors(400, 401, 403, 404, 409, 429)},
    summary="Post a message (idempotent on client_id)",
)
def room_message_post(request, payload: MessageIn, room_id: int = Id):
    message, created = services.message_post(
        author=request.user,
        room_id=room_id,
        body=payload.body,
        client_id=payload.client_id,
        attachments=payload.attachments,
        reply_to=payload.reply_to,
    )
    return Status(201 if created else 200, message_dict(message))


@api.put(
    "/rooms/{room_id}/messages/{message_id}/reactions/{emoji}/",
    response={200: MessageOut, **errors(400, 401, 403, 404)},
    summary="React to a message with an emoji (idempotent)",
)
def reaction_add(request, emoji: Emoji, room_id: int = Id, message_id: int = Id):
    message = services.reaction_add(
        user=request.user, room_id=room_id, message_id=message_id, emoji=emoji
    )
    return message_dict(message)


@api.delete(
    "/rooms/{room_id}/messages/{message_id}/reactions/{emoji}/",
    response={200: MessageOut, **errors(400, 401, 403, 404)},
    summary="Take my reaction off a message (idempotent)",
)
def reaction_remove(request, emoji: Emoji, room_id: int = Id, message_id: int = Id):
    message = services.reaction_remove(
        user=request.user, room_id=room_id, message_id=message_id, emoji=emoji
    )
    return message_dict(message)


@api.get(
    "/rooms/{room_id}/members/",
    response={200: MembersOut, **errors(400, 401, 404)},
    summary="A room's members (whom a message may mention), as the socket's members frame",
)
def room_members(request, room_id: int = Id):
    room = access.room_for_member(user=request.user, room_id=room_id)
    members, count = queries.room_members(room=room)
    return {"members": [member_dict(membership) for membership in members], "count": count}


@api.get(
    "/tokens/",
    response={200: list[TokenOut], **errors(401)},
    auth=browser_session,
    summary="List my API tokens",
)
def tokens(request):
    return list(ApiToken.objects.filter(user=request.user))


@api.post(
    "/tokens/",
    response={201: NewTokenOut, **errors(400, 401, 403)},
    auth=browser_session,
    summary="Create an API token (shown once; signed-in browser sessions only)",
)
def token_create(request, payload: TokenIn):
    token, key = account_services.api_token_create(user=request.user, name=payload.name)
    return Status(201, {**TokenOut.model_validate(token).model_dump(), "key": key})


@api.delete(
    "/tokens/{token_id}/",
    response={204: None, **errors(400, 401, 403, 404)},
    auth=browser_session,
    summary="Revoke a token (signed-in browser sessions only)",
)
def token_revoke(request, token_id: int = Id):
    if not account_services.api_token_revoke(user=request.user, token_id=token_id):
        raise NotFound("No such token.")
    return Status(204, None)


@api.post(
    "/tickets/",
    response={201: TicketOut, **errors(400, 401, 403)},
    summary="A single-use socket ticket (60 s)",
)
def ticket_issue(request):
    api_token = getattr(request, "api_token", None)
    ticket = account_services.socket_ticket_issue(
        user=request.user,
        session_key="" if api_token else request.session.session_key or "",
        token_id=api_token.id if api_token else None,
    )
    return Status(201, {"ticket": ticket, "expires_in": settings.CHAT_TICKET_TTL})


api.add_router("", "attachments.api.router")
