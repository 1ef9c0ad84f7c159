"""An upload handler that refuses a request body larger than any form takes, before and while
Django parses it, so an oversized file is never written out in full."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler

# Room for the multipart framing and the small fields beside the file.
MULTIPART_OVERHEAD = 64 * 1024


class UploadTooLarge(RequestDataTooBig):
    """A file over UPLOAD_MAX_BYTES (a bad request to Django's pages, 413 to the API)."""


class BoundedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: counts every file's bytes as they stream in."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD:
            raise UploadTooLarge(too_large_detail())

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > settings.UPLOAD_MAX_BYTES:
            raise UploadTooLarge(too_large_detail())
        return raw_data

    def file_complete(self, file_size):
        return None


def too_large_detail() -> str:
    return f"A file is at most {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MB."
