"""Chat pages. Each view translates HTTP into a query or service call and back."""

from uuid import UUID, uuid4

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from chat import access, queries, services
from chat.errors import BadRequest, ChatError, NotFound
from chat.forms import InviteForm, RoomForm
from chat.models import Membership, Room
from chat.serializers import author_dict


@login_required
def lobby(request):
    term = request.GET.get("q", "")
    context = {
        "rooms": queries.rooms_for_user(user=request.user),
        "public_rooms": queries.public_rooms_not_joined(user=request.user),
        "room_form": RoomForm(),
        "term": term,
    }
    try:
        context["people"] = queries.user_search(user=request.user, term=term) if term else None
    except BadRequest as error:
        context.update(people=None, term=term.replace("\x00", ""), search_error=error.detail)
        return render(request, "chat/lobby.html", context, status=400)
    return render(request, "chat/lobby.html", context)


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
        raise Http404("No such room.") from None
    return _chat_page(request, room, joined=joined)


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
        context = {"partner": partner, "client_id": uuid4()}
        return render(request, "chat/direct_start.html", context)
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


def _chat_page(request, room: Room, *, joined: bool):
    history, has_more = queries.messages_before(
        room_id=room.id, before=None, limit=queries.HISTORY_PAGE
    )
    members = queries.room_members(room=room)
    me = next((m for m in members if m.user_id == request.user.id), None)
    partner = next((m.user for m in members if m.user_id != request.user.id), None)
    context = {
        "room": room,
        "joined": joined,
        "title": queries.room_title(room=room, partner=partner),
        "partner": partner,
        "members": members,
        "is_owner": me is not None and me.role == Membership.Role.OWNER,
        "history": history,
        "has_more": has_more,
        "last_seq": history[-1].seq if history else 0,
        "invite_form": InviteForm(),
        "me": author_dict(request.user),
    }
    # No write here, not even the read marker: a GET changes nothing (a cross-site page can make
    # one); the page's socket says what was shown.
    return render(request, "chat/room.html", context)


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
            services.member_invite(actor=request.user, room_id=room.id, username=username)
            messages.success(request, f"{username} was added to the room.")
        except ChatError as error:  # an unknown username is a message here, not a 404
            messages.error(request, error.detail)
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
        room = _run(
            request,
            lambda: services.room_create_public(
                creator=request.user, name=form.cleaned_data["name"]
            ),
            "Public room created.",
        )
        if room:
            return redirect("chat:staff_rooms")
    rooms = Room.objects.filter(kind=Room.Kind.PUBLIC).order_by("name")
    return render(request, "chat/staff_rooms.html", {"rooms": rooms, "form": form})


@staff_member_required
@require_POST
def staff_room_delete(request, room_id):
    _run(
        request, lambda: services.room_delete(actor=request.user, room_id=room_id), "Room deleted."
    )
    return redirect("chat:staff_rooms")
