"""Revocation: when a credential stops being valid, the sockets it opened close at once."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from realtime import publisher

User = get_user_model()


@receiver(user_logged_out)
def close_session_sockets(sender, request, user, **kwargs):
    """Logging out closes the sockets of that session (and the tickets it issued). Django sends
    this signal before it deletes the session, so the session is deleted here first: a socket
    that checks it from now on finds it gone, and one that checked it before hears the event."""
    session_key = request.session.session_key if request is not None else None
    if session_key and user is not None:
        import_module(settings.SESSION_ENGINE).SessionStore(session_key).delete()
        user_id = user.id
        transaction.on_commit(
            lambda: publisher.sockets_close(
                user_id=user_id, group=publisher.session_group(session_key), reason="logged_out"
            )
        )


@receiver(post_save, sender=User)
def close_sockets_on_password_change_or_deactivation(sender, instance, created, **kwargs):
    """A new password or a deactivated account closes every socket of the user."""
    password_changed = getattr(instance, "_password", None) is not None
    if not created and (password_changed or not instance.is_active):
        user_id = instance.id
        transaction.on_commit(
            lambda: publisher.sockets_close(
                user_id=user_id, group=publisher.user_group(user_id), reason="revoked"
            )
        )


@receiver(post_delete, sender=User)
def close_sockets_on_delete(sender, instance, **kwargs):
    user_id = instance.id
    transaction.on_commit(
        lambda: publisher.sockets_close(
            user_id=user_id, group=publisher.user_group(user_id), reason="revoked"
        )
    )
