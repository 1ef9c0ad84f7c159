"""The JSON shape of an attachment, inside a message's frames and the API's answers."""

from urllib.parse import quote

from django.urls import reverse

from attachments.models import Attachment


def attachment_dict(attachment: Attachment) -> dict:
    file_url = reverse("attachments:file", args=[attachment.id, attachment.original_name])
    thumbnail_url = (
        reverse("attachments:thumbnail", args=[attachment.id]) if attachment.thumbnail else None
    )
    return {
        "id": attachment.id,
        "name": attachment.original_name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "kind": attachment.kind,
        "width": attachment.width,
        "height": attachment.height,
        "url": file_url,
        "thumbnail_url": thumbnail_url,
    }


def content_disposition(disposition: str, name: str) -> str:
    """RFC 6266 with the RFC 5987 UTF-8 form only: no quoting of a name is ever needed."""
    return f"{disposition}; filename*=UTF-8''{quote(name, safe='')}"
