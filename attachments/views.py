"""Shared files, handed out only to the members of their room, checked on every request."""

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.views.decorators.http import require_safe

from accounts.services import api_token_authenticate
from attachments.models import Attachment
from attachments.queries import NO_SUCH_FILE, attachment_for_reader
from attachments.serializers import content_disposition
from chat.errors import NotFound

# Types a browser may show inline from a file URL: the pictures the server redrew itself.
INLINE_TYPES = {"image/jpeg", "image/png"}
# A file that is opened anyway (a download shown by the browser) runs nothing and loads nothing.
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _reader(request):
    """The signed-in user, or a bot by its API token (Authorization: Bearer); else anonymous."""
    if request.user.is_authenticated:
        return request.user
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    token = api_token_authenticate(key=key.strip()) if scheme.lower() == "bearer" else None
    return token.user if token else request.user


def attachment_for_request(request, *, user, attachment_id: int) -> Attachment:
    """The attachment `user` may read, or NotFound. Another site's page (an <img>, a fetch, a
    link) learns nothing, not even whether a file exists: the browser says where a request comes
    from, and a page cannot forge that."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise NotFound(NO_SUCH_FILE)
    return attachment_for_reader(user=user, attachment_id=attachment_id)


def _attachment(request, attachment_id: int) -> Attachment:
    try:
        return attachment_for_request(request, user=_reader(request), attachment_id=attachment_id)
    except NotFound:
        raise Http404 from None


@require_safe
def attachment_file(request, attachment_id: int, name: str):
    """The file itself; `name` is for the reader's address bar and is not trusted."""
    return attachment_response(_attachment(request, attachment_id))


@require_safe
def attachment_thumbnail(request, attachment_id: int):
    """A picture's thumbnail (a file that is not a picture has none)."""
    attachment = _attachment(request, attachment_id)
    if not attachment.thumbnail:
        raise Http404
    return _file_response(attachment.thumbnail, "image/jpeg", attachment.original_name)


def attachment_response(attachment: Attachment) -> HttpResponse:
    """The attachment's file as the reader gets it, from its URL and from the API alike."""
    return _file_response(attachment.file, attachment.content_type, attachment.original_name)


def _file_response(file, content_type: str, name: str) -> HttpResponse:
    """Sent by the proxy (X-Accel-Redirect) when it is set up, else streamed in chunks."""
    prefix = settings.ATTACHMENT_ACCEL_REDIRECT_PREFIX
    if prefix:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + file.name
    else:
        response = FileResponse(file.open("rb"), content_type=content_type)
    inline = content_type in INLINE_TYPES
    response["Content-Disposition"] = content_disposition(
        "inline" if inline else "attachment", name
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # A member removed later must not keep reading it from a cache.
    response["Cache-Control"] = "private, no-cache"
    return response
