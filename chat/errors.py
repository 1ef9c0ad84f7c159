"""Errors a chat client can be told about: each carries a stable code for the socket and API."""


class ChatError(Exception):
    code = "bad_request"
    status = 400

    def __init__(self, detail: str = "Bad request.", **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def as_frame(self) -> dict:
        return {"type": "error", "code": self.code, "detail": self.detail, **self.extra}


class BadRequest(ChatError):
    code = "bad_request"


class TooLong(ChatError):
    code = "too_long"


class NotFound(ChatError):
    """Also used for rooms the user may not see, so that their existence does not leak."""

    code = "not_found"
    status = 404


class Forbidden(ChatError):
    code = "forbidden"
    status = 403


class Conflict(ChatError):
    code = "conflict"
    status = 409


class RateLimited(ChatError):
    code = "rate_limited"
    status = 429


class TooLarge(ChatError):
    """An upload over a size limit (HTTP 413)."""

    code = "too_large"
    status = 413


class Overloaded(ChatError):
    """More sends wait to be stored in this process than it should queue: try again shortly."""

    code = "overloaded"
    status = 503
