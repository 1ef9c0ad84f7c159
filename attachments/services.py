"""Every write to attachments: uploading, posting with a message, and deleting files."""

import codecs
import datetime
import unicodedata
import uuid
from collections.abc import Iterable
from pathlib import PurePosixPath

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from attachments.images import Picture, looks_like_picture, picture_redrawn
from attachments.models import Attachment, UploadDay, attachment_storage
from chat import ratelimit
from chat.access import room_for_member
from chat.errors import BadRequest, NotFound, RateLimited, TooLarge
from chat.models import BIGINT_MAX
from imaging.limits import ImageRejected

NAME_MAX = 200
EXTENSION_MAX = 16
UNPOSTED_MAX_AGE = datetime.timedelta(days=1)
# Bytes read to tell what a file that is not a picture is.
SNIFF_BYTES = 8192
# What a file that is not a picture may be served as (always as a download); anything else is
# application/octet-stream.
FILE_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
)
TEXT = "text/plain; charset=utf-8"
OCTET_STREAM = "application/octet-stream"


def attachment_name_clean(name) -> str:
    """The name as shown: its last path component, without control or format characters
    (bidirectional overrides included), at most NAME_MAX characters with its extension kept."""
    name = unicodedata.normalize("NFC", name if isinstance(name, str) else "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(_visible(c) for c in name)
    name = " ".join(name.split()).strip(". ")
    if len(name) > NAME_MAX:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= EXTENSION_MAX else ""
        name = name[: NAME_MAX - len(suffix)].rstrip(". ") + suffix
    return name or "file"


def _visible(character: str) -> str:
    """Control and format characters go; every kind of space becomes a plain one."""
    category = unicodedata.category(character)[0]
    return {"C": "", "Z": " "}.get(category, character)


def _file_type(head: bytes, *, complete: bool) -> str:
    """The content type a file's first bytes show (never the client's word)."""
    for signature, content_type in FILE_SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if b"\x00" not in head:
        try:
            # Incremental: a multi-byte character cut at the sample's end is no error.
            codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        except UnicodeDecodeError:
            return OCTET_STREAM
        return TEXT
    return OCTET_STREAM


def attachment_upload(*, uploader, room_id: int, upload) -> Attachment:
    """Store a file a member uploads to a room, unposted until a message carries it: a picture
    redrawn without metadata (with a thumbnail), anything else as it came."""
    room_for_member(user=uploader, room_id=room_id)
    # A bucket of its own, at the posting rate: many small files cost rows, not bytes.
    wait = ratelimit.take(f"upload:{uploader.id}")
    if wait:
        raise RateLimited("You are uploading files too fast.", retry_after=round(wait, 3))
    if upload.size == 0:
        raise BadRequest("The file is empty.")
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise TooLarge(f"A file is at most {settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB.")
    _quota_check(user=uploader, size=upload.size)
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    if looks_like_picture(head):
        try:
            picture = picture_redrawn(upload)
        except ImageRejected as error:
            raise BadRequest(str(error)) from None
        return _stored_picture(uploader=uploader, room_id=room_id, upload=upload, picture=picture)
    content_type = _file_type(head, complete=upload.size <= SNIFF_BYTES)
    upload.seek(0)
    return _stored(
        uploader=uploader,
        room_id=room_id,
        upload=upload,
        fields={"kind": Attachment.Kind.FILE, "content_type": content_type},
        files={"file": (upload, "bin")},
    )


def _stored_picture(*, uploader, room_id: int, upload, picture: Picture) -> Attachment:
    with picture.content, picture.thumbnail:
        return _stored(
            uploader=uploader,
            room_id=room_id,
            upload=upload,
            fields={
                "kind": Attachment.Kind.IMAGE,
                "content_type": picture.content_type,
                "width": picture.width,
                "height": picture.height,
            },
            files={
                "file": (picture.content, picture.extension),
                "thumbnail": (picture.thumbnail, "jpg"),
            },
        )


def _stored(*, uploader, room_id: int, upload, fields: dict, files: dict) -> Attachment:
    """Write the files under random names, then the row and the day's bytes in one transaction;
    if that fails, the files go again."""
    storage = attachment_storage()
    stem = f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}"
    names = {}
    try:
        for field, (content, extension) in files.items():
            suffix = "" if field == "file" else f"-{field}"
            names[field] = storage.save(f"{stem}{suffix}.{extension}", content)
        with transaction.atomic():
            _quota_take(user=uploader, size=upload.size)
            return Attachment.objects.create(
                uploader=uploader,
                room_id=room_id,
                original_name=attachment_name_clean(upload.name),
                size=storage.size(names["file"]),
                **names,
                **fields,
            )
    except BaseException:
        for name in names.values():
            storage.delete(name)
        raise


def _today() -> datetime.date:
    return timezone.now().astimezone(datetime.UTC).date()


def _quota_refusal() -> RateLimited:
    midnight = datetime.datetime.combine(_today(), datetime.time(), datetime.UTC)
    wait = midnight + datetime.timedelta(days=1) - timezone.now()
    limit = settings.ATTACHMENT_DAILY_BYTES // (1024 * 1024)
    return RateLimited(
        f"You have uploaded your {limit} MB for today; try again tomorrow (UTC).",
        retry_after=round(wait.total_seconds(), 3),
    )


def _quota_check(*, user, size: int) -> None:
    """Refuse an upload that would pass the day's bytes before any of it is processed."""
    used = UploadDay.objects.filter(user=user, day=_today()).values_list("bytes", flat=True)
    if (used.first() or 0) + size > settings.ATTACHMENT_DAILY_BYTES:
        raise _quota_refusal()


def _quota_take(*, user, size: int) -> None:
    """Count `size` bytes against the user's day, atomically, or refuse them."""
    day = _today()
    UploadDay.objects.get_or_create(user=user, day=day)
    taken = UploadDay.objects.filter(
        user=user, day=day, bytes__lte=settings.ATTACHMENT_DAILY_BYTES - size
    ).update(bytes=F("bytes") + size)
    if not taken:
        raise _quota_refusal()


def attachment_ids_clean(value) -> list[int]:
    """The attachment ids a message names, without repeats, or the error a client is told."""
    if value is None:
        return []
    limit = settings.ATTACHMENT_MAX_PER_MESSAGE
    if not isinstance(value, list) or not all(
        type(item) is int and 1 <= item <= BIGINT_MAX for item in value
    ):
        raise BadRequest("'attachments' must be a list of attachment ids.")
    ids = list(dict.fromkeys(value))
    if len(ids) > limit:
        raise BadRequest(f"A message carries at most {limit} attachments.")
    return ids


def attachments_post(*, author, room_id: int, attachment_ids: list[int], message) -> None:
    """Attach the author's own unposted uploads in the room to `message` (in its transaction);
    NotFound if any of them is not one."""
    if not attachment_ids:
        return
    owned = Attachment.objects.select_for_update().filter(
        id__in=attachment_ids, uploader=author, room_id=room_id, message__isnull=True
    )
    if len(owned) != len(attachment_ids):
        raise NotFound("No such attachment (each must be your own upload to this room, unposted).")
    owned.update(message=message)


def _files_delete_on_commit(attachments: Iterable[Attachment]) -> None:
    """Remove the attachments' files once the rows' deletion is committed."""
    names = [name for a in attachments for name in (a.file.name, a.thumbnail.name) if name]
    if names:
        storage = attachment_storage()
        transaction.on_commit(lambda: [storage.delete(name) for name in names])


def message_attachments_delete(*, message) -> None:
    """Delete a message's attachments, their files after the commit."""
    attachments = list(Attachment.objects.filter(message=message))
    Attachment.objects.filter(id__in=[a.id for a in attachments]).delete()
    _files_delete_on_commit(attachments)


def room_attachments_delete(*, room_id: int) -> None:
    """Delete a room's attachments (the room is going), their files after the commit."""
    attachments = list(Attachment.objects.filter(room_id=room_id))
    Attachment.objects.filter(id__in=[a.id for a in attachments]).delete()
    _files_delete_on_commit(attachments)


@transaction.atomic
def attachments_unposted_delete(*, now=None) -> int:
    """Delete uploads that no message carried within UNPOSTED_MAX_AGE; how many."""
    cutoff = (now or timezone.now()) - UNPOSTED_MAX_AGE
    stale = list(
        Attachment.objects.select_for_update(skip_locked=True).filter(
            message__isnull=True, created_at__lt=cutoff
        )
    )
    Attachment.objects.filter(id__in=[a.id for a in stale]).delete()
    _files_delete_on_commit(stale)
    return len(stale)


def attachment_files_orphaned_delete(*, now=None) -> int:
    """Delete stored files older than UNPOSTED_MAX_AGE that no attachment names (their rows went
    with a deleted user, or a process died between the file and its row); how many."""
    storage = attachment_storage()
    cutoff = (now or timezone.now()) - UNPOSTED_MAX_AGE
    deleted = 0
    for names in _stored_names(storage, ""):
        old = [name for name in names if storage.get_modified_time(name) < cutoff]
        known = set(
            Attachment.objects.filter(Q(file__in=old) | Q(thumbnail__in=old)).values_list(
                "file", "thumbnail"
            )
        )
        known = {name for pair in known for name in pair}
        for name in old:
            if name not in known:
                storage.delete(name)
                deleted += 1
    return deleted


def _stored_names(storage, directory: str):
    """The names of the stored files, a directory at a time."""
    directories, files = storage.listdir(directory)
    yield [f"{directory}{name}" for name in files]
    for child in directories:
        yield from _stored_names(storage, f"{directory}{child}/")
