"""Every read of attachments, each checked against room membership now."""

from attachments.models import Attachment
from chat.access import room_for_member
from chat.errors import NotFound

NO_SUCH_FILE = "No such file."


def attachment_for_reader(*, user, attachment_id: int) -> Attachment:
    """The attachment if `user` is a member of its room now (an unposted upload: only its
    uploader); NotFound otherwise, whether or not it exists."""
    attachment = Attachment.objects.filter(id=attachment_id).first()
    if attachment is None or (attachment.message_id is None and attachment.uploader_id != user.id):
        raise NotFound(NO_SUCH_FILE)
    try:
        room_for_member(user=user, room_id=attachment.room_id)
    except NotFound:
        raise NotFound(NO_SUCH_FILE) from None
    return attachment
