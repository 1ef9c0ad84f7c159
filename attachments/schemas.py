"""The API's shape of an attachment, shared by the upload and the message schemas."""

from ninja import Schema


class AttachmentOut(Schema):
    id: int
    name: str
    size: int
    content_type: str
    kind: str
    width: int | None
    height: int | None
    url: str
    thumbnail_url: str | None
