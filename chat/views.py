"""Chat pages. Each view translates HTTP into a query or service call and back."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chat import queries, services
from chat.errors import ChatError, NotFound
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
        "people": queries.user_search(user=request.user, term=term) if term else None,
    }
    return render(request, "chat/lobby.html", context)


@login_required
def search(request):
    term = request.GET.get("q", "").strip()
    titles = {room.id: room for room in queries.rooms_for_user(user=request.user)}
    results = [
        (message, titles[message.room_id])
        for message in queries.message_search(user=request.user, term=term)
    ]
    return render(request, "chat/search.html", {"term": term, "results": results})


@login_required
def room_page(request, slug):
    try:
        room = queries.room_by_slug(slug=slug)
        if room.kind == Room.Kind.PUBLIC:
            services.room_join_public(user=request.user, room_id=room.id)
        room = queries.room_for_member(user=request.user, room_id=room.id)
    except NotFound:
        raise Http404("No such room.") from None
    return _chat_page(request, room)


@login_required
def direct_page(request, username):
    try:
        room = services.direct_room_open(user=request.user, other_username=username)
        room = queries.room_for_member(user=request.user, room_id=room.id)
    except ChatError:
        raise Http404("No such person.") from None
    return _chat_page(request, room)


def _chat_page(request, room: Room):
    history, has_more = queries.messages_before(
        room_id=room.id, before=None, limit=queries.HISTORY_PAGE
    )
    members = queries.room_members(room=room)
    me = next(m for m in members if m.user_id == request.user.id)
    partner = next((m.user for m in members if m.user_id != request.user.id), None)
    context = {
        "room": room,
        "title": queries.room_title(room=room, partner=partner),
        "partner": partner,
        "members": members,
        "is_owner": me.role == Membership.Role.OWNER,
        "history": history,
        "has_more": has_more,
        "last_seq": history[-1].seq if history else 0,
        "invite_form": InviteForm(),
        "me": author_dict(request.user),
    }
    if history:
        services.room_mark_read(user=request.user, room_id=room.id, seq=history[-1].seq)
    return render(request, "chat/room.html", context)


def _member_room(request, room_id: int) -> Room:
    try:
        return queries.room_for_member(user=request.user, room_id=room_id)
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
