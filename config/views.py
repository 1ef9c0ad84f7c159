"""Site-wide error views that Django's defaults do not cover."""

from django.shortcuts import render


def csrf_failure(request, reason: str = ""):
    """A form refused by the CSRF check: the styled 403 page, saying what to do about it."""
    return render(request, "403.html", {"csrf_failure": True}, status=403)
