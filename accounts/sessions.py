"""Ending every session of a user: signing out everywhere, and after an admin sets a password."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django.utils import timezone

from accounts.models import SocketTicket, User


@transaction.atomic
def user_sessions_end(*, user: User, keep_session_key: str = "") -> int:
    """Delete the user's sessions (but `keep_session_key`), void the unused tickets they issued
    and close the sockets they opened; the number of sessions ended."""
    from realtime import publisher

    session_model = import_module(settings.SESSION_ENGINE).SessionStore.get_model_class()
    # Database sessions carry no user column, so each live one is decoded; this runs only when
    # someone asks to sign out everywhere or an admin sets a password, never per request.
    ended = [
        session.session_key
        for session in session_model.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == str(user.pk)
        and session.session_key != keep_session_key
    ]
    session_model.objects.filter(session_key__in=ended).delete()
    SocketTicket.objects.filter(user=user, token__isnull=True, used_at__isnull=True).exclude(
        session_key=keep_session_key
    ).delete()

    publisher.sockets_close_on_commit(
        user_id=user.id, groups=[publisher.session_group(k) for k in ended], reason="logged_out"
    )
    return len(ended)
