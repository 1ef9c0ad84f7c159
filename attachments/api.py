"""Files in the JSON API (mounted by chat.api): upload one to a room, for a message to carry by
id; download one."""

from ninja import File, Router, Status, UploadedFile

from attachments import services
from attachments.schemas import AttachmentOut
from attachments.serializers import attachment_dict
from attachments.uploads import UploadTooLarge
from attachments.views import attachment_for_request, attachment_response
from chat.api import Id, api, errors

router = Router(tags=["attachments"])
UPLOAD = File(
    ...,
    description="The file (not empty); pictures are redrawn, anything else kept as sent.",
)
# The schema says what the server checks: an empty file is refused.
NOT_EMPTY = {
    "requestBody": {
        "content": {"multipart/form-data": {"schema": {"properties": {"file": {"minLength": 1}}}}}
    }
}


@api.exception_handler(UploadTooLarge)
def upload_too_large(request, error: UploadTooLarge):
    """A body refused while it streamed in: the same 413 as a file found too large later."""
    return api.create_response(request, {"code": "too_large", "detail": str(error)}, status=413)


@router.post(
    "/rooms/{room_id}/attachments/",
    response={201: AttachmentOut, **errors(400, 401, 403, 404, 413, 429)},
    summary="Upload a file to a room (multipart, field 'file'); post it with a message's "
    "'attachments' within a day",
    openapi_extra=NOT_EMPTY,
)
def attachment_upload(request, room_id: int = Id, file: UploadedFile = UPLOAD):
    attachment = services.attachment_upload(uploader=request.user, room_id=room_id, upload=file)
    return Status(201, attachment_dict(attachment))


# Whatever type the file is; errors are JSON as everywhere else.
FILE_BYTES = {
    "responses": {
        200: {
            "description": "The file's bytes, streamed (or sent by the proxy in deployment).",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@router.get(
    "/attachments/{attachment_id}/",
    response={200: None, **errors(400, 401, 404)},
    summary="Download a file of one of my rooms (the same bytes and headers as its url)",
    openapi_extra=FILE_BYTES,
)
def attachment_download(request, attachment_id: int = Id):
    attachment = attachment_for_request(request, user=request.user, attachment_id=attachment_id)
    return attachment_response(attachment)
