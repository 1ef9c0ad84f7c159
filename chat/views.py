"""Chat pages. Each view translates HTTP into a query or service call and back."""

from uuid import UUID, uuid4

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat import access, queries, services
from chat.emoji_data import picker_entries
from chat.errors import BadRequest, ChatError, NotFound
from chat.forms import InviteForm, RoomForm
from chat.models import BIGINT_MAX, Membership, Room, RoomEvent
from chat.serializers import author_dict, member_dict, message_dicts, public_room_dict, room_dict


@login_required
@require_GET
def emoji_picker(request):
    """The reaction picker's emoji with their searchable names, and the user's six most used."""
    return JsonResponse(
        {"emoji": picker_entries(), "frequent": queries.frequent_emoji(user=request.user)}
    )


@login_required
def lobby(request):
    """The workspace with no conversation open: the chats, and where to start a new one."""
    term = request.GET.get("q", "")
    context = {"term": term}
    try:
        context["people"] = queries.user_search(user=request.user, term=term) if term else None
    except BadRequest as error:
        context.update(people=None, term=term.replace("\x00", ""), search_error=error.detail)
        return _workspace(request, context, status=400)
    return _workspace(request, context)


@login_required
def search(request):
    term = request.GET.get("q", "")
    try:
        found = queries.message_search(user=request.user, term=term)
    except BadRequest as error:
        context = {"term": term.replace("\x00", ""), "results": [], "error": error.detail}
        return render(request, "chat/search.html", context, status=400)
    titles = {room.id: room for room in queries.rooms_for_user(user=request.user)}
    results = [(message, titles[message.room_id]) for message in found]
    return render(request, "chat/search.html", {"term": term.strip(), "results": results})


@login_required
def room_page(request, slug):
    """A room's page. A public room one is not in is a read-only preview with a Join button:
    public rooms are open to every signed-in user, and only a POST joins."""
    try:
        room, joined = access.room_for_reader(user=request.user, slug=slug)
    except NotFound:
        return room_unavailable(request, slug)
    return _chat_page(request, room, joined=joined)


def room_unavailable(request, slug: str):
    """A room the user may not read. A former member is told they lost it (403: they know it
    exists, so saying so reveals nothing); anyone else gets the 404 of a room that is not there."""
    lost = access.room_lost(user=request.user, slug=slug)
    if lost is None:
        raise Http404("No such room.")
    context = {"room": lost.room, "removed": lost.kind == RoomEvent.Kind.REMOVED}
    return render(request, "chat/room_lost.html", context, status=403)


@login_required
@require_http_methods(["GET", "POST"])
def direct_page(request, username):
    """A direct chat. Until one of the two starts it (a POST, with or without a first message)
    there is no room, and the page offers to start it."""
    try:
        partner = queries.direct_partner(user=request.user, username=username)
        if request.method == "POST":
            return _direct_start(request, partner)
        room = queries.direct_room(user=request.user, other=partner)
        if room is not None:
            room = access.room_for_member(user=request.user, room_id=room.id)
    except NotFound:
        raise Http404("No such person.") from None
    if room is None:
        context = {"direct_partner": partner, "client_id": uuid4()}
        return _workspace(request, context)
    return _chat_page(request, room, joined=True)


def _direct_start(request, partner):
    room = services.direct_room_open(user=request.user, other_username=partner.username)
    body = request.POST.get("body", "")
    if body.strip():
        try:
            client_id = UUID(request.POST.get("client_id", ""))
        except ValueError:
            client_id = uuid4()
        _run(
            request,
            lambda: services.message_post(
                author=request.user, room_id=room.id, body=body, client_id=client_id
            ),
        )
    return redirect("chat:direct", username=partner.username)


def _at(request) -> int | None:
    """The message a link opens the room at (?at=<seq>), if it names one."""
    value = request.GET.get("at", "")
    if value.isascii() and value.isdigit() and 0 < int(value) <= BIGINT_MAX:
        return int(value)
    return None


def _chat_page(request, room: Room, *, joined: bool):
    """The workspace with a room open: the server renders its latest messages (or those around
    ?at=<seq>) so that the address works as a first load; the page's script takes over."""
    at = _at(request)
    if at is None:
        history, has_more = queries.messages_before(
            room_id=room.id, before=None, limit=queries.HISTORY_PAGE
        )
        has_newer = False
    else:
        history, has_more, has_newer = queries.messages_around(
            room_id=room.id, seq=at, limit=queries.HISTORY_PAGE
        )
    members, member_count = queries.room_members(room=room)
    partner = next((m.user for m in members if m.user_id != request.user.id), None)
    # Serialised once: the server's rendering and the page's script read the same dicts.
    history = message_dicts(history)
    context = {
        "room": room,
        "joined": joined,
        "title": queries.room_title(room=room, partner=partner),
        "partner": partner if room.is_direct else None,
        "members": members,
        "member_count": member_count,
        "history": history,
        "has_more": has_more,
        "open": {
            "room": room.id,
            "joined": joined,
            "messages": history,
            "has_more": has_more,
            "has_newer": has_newer,
            "at": at,
            "members": [member_dict(membership) for membership in members],
            "member_count": member_count,
        },
    }
    # No write here, not even the read marker: a GET changes nothing (a cross-site page can make
    # one); the page's socket says what was shown.
    return _workspace(request, context)


def _url_pattern(name: str, *fields: str) -> str:
    """The address of a form's action with {field} where each id goes, for the page's script."""
    samples = [str(10**9 + n) for n in range(len(fields))]
    url = reverse(f"chat:{name}", args=samples)
    for sample, field in zip(samples, fields, strict=True):
        url = url.replace(f"/{sample}/", f"/{{{field}}}/")
    return url


def _workspace(request, context: dict, *, status: int = 200):
    """The one page of Parley's chat: the sidebar of the user's chats beside the open
    conversation (or, with none open, where to start one)."""
    rooms = [room_dict(room) for room in queries.rooms_for_user(user=request.user)]
    public = [public_room_dict(r) for r in queries.public_rooms_not_joined(user=request.user)]
    open_room = context.get("open")
    # The user's role in the open room is in its summary (none in a public room they preview).
    is_owner = open_room is not None and any(
        r["id"] == open_room["room"] and r["role"] == Membership.Role.OWNER for r in rooms
    )
    data = {
        "me": author_dict(request.user),
        "rooms": rooms,
        "public_rooms": public,
        "open": open_room,
        "urls": {
            "room_join": _url_pattern("room_join", "room"),
            "room_leave": _url_pattern("room_leave", "room"),
            "member_invite": _url_pattern("member_invite", "room"),
            "member_remove": _url_pattern("member_remove", "room", "user"),
        },
        "uploads": {
            "url": reverse("api:attachment_upload", args=[10**9]).replace(f"/{10**9}/", "/{room}/"),
            "max_bytes": settings.ATTACHMENT_MAX_BYTES,
            "max_per_message": settings.ATTACHMENT_MAX_PER_MESSAGE,
        },
    }
    context = {
        "rooms": rooms,
        "public_rooms": public,
        "room_form": RoomForm(),
        "invite_form": InviteForm(),
        "workspace": data,
        "message_max_length": settings.CHAT_MESSAGE_MAX_LENGTH,
        "history_page": queries.HISTORY_PAGE,
        "is_owner": is_owner,
        **context,
    }
    return render(request, "chat/workspace.html", context, status=status)


def _member_room(request, room_id: int) -> Room:
    try:
        return access.room_for_member(user=request.user, room_id=room_id)
    except NotFound:
        raise Http404("No such room.") from None


def _run(request, action, success: str | None = None):
    """Run a service for a form post; a refusal becomes a message, never an error page."""
    try:
        result = action()
    except ChatError as error:
        if isinstance(error, NotFound):
            raise Http404(error.detail) from None
        messages.error(request, error.detail)
        return None
    if success:
        messages.success(request, success)
    return result


@login_required
@require_POST
def room_create(request):
    form = RoomForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A room needs a name of at most 80 characters.")
        return redirect("chat:lobby")
    room = _run(
        request,
        lambda: services.room_create_private(owner=request.user, name=form.cleaned_data["name"]),
    )
    return redirect("chat:room", slug=room.slug) if room else redirect("chat:lobby")


@login_required
@require_POST
def room_join(request, room_id):
    room = _run(request, lambda: services.room_join_public(user=request.user, room_id=room_id))
    return redirect("chat:room", slug=room.slug)


@login_required
@require_POST
def room_leave(request, room_id):
    _run(
        request,
        lambda: services.room_leave(user=request.user, room_id=room_id),
        "You left the room.",
    )
    return redirect("chat:lobby")


@login_required
@require_POST
def member_invite(request, room_id):
    room = _member_room(request, room_id)
    form = InviteForm(request.POST)
    if form.is_valid():
        username = form.cleaned_data["username"]
        try:
            membership = services.member_invite(
                actor=request.user, room_id=room.id, username=username
            )
        except ChatError as error:  # an unknown username is a message here, not a 404
            messages.error(request, error.detail)
        else:
            messages.success(request, f"{membership.user.username} was added to the room.")
    return redirect("chat:room", slug=room.slug)


@login_required
@require_POST
def member_remove(request, room_id, user_id):
    room = _member_room(request, room_id)
    _run(
        request,
        lambda: services.member_remove(actor=request.user, room_id=room.id, user_id=user_id),
        "The member was removed.",
    )
    return redirect("chat:room", slug=room.slug)


@staff_member_required
def staff_rooms(request):
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.room_create_public(creator=request.user, name=form.cleaned_data["name"])
        except ChatError as error:
            form.add_error("name", error.detail)
        else:
            messages.success(request, "Public room created.")
            return redirect("chat:staff_rooms")
    rooms = queries.public_rooms_with_counts()
    status = 400 if form.errors else 200
    return render(request, "chat/staff_rooms.html", {"rooms": rooms, "form": form}, status=status)


@staff_member_required
@require_http_methods(["GET", "POST"])
def staff_room_delete(request, room_id):
    """GET: a page that names the room and what deleting it destroys; POST: delete it."""
    room = next(iter(queries.public_rooms_with_counts(room_id=room_id)), None)
    if room is None:
        raise Http404("No such room.")
    if request.method == "GET":
        return render(request, "chat/staff_room_delete.html", {"room": room})
    _run(
        request,
        lambda: services.room_delete(actor=request.user, room_id=room.id),
        f"{room.name} was deleted.",
    )
    return redirect("chat:staff_rooms")
