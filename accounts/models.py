from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A Parley account; the email address is unique whatever its case."""

    class Theme(models.TextChoices):
        SYSTEM = "system", "Follow the system"
        LIGHT = "light", "Light"
        DARK = "dark", "Dark"

    email = models.EmailField("email address")
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    theme = models.CharField(max_length=6, choices=Theme.choices, default=Theme.SYSTEM)
    # Presence and read receipts are shown to people who share a room; each can be turned off.
    show_presence = models.BooleanField("show when I am online", default=True)
    send_read_receipts = models.BooleanField("send read receipts", default=True)
    # IANA zone names (validated with zoneinfo), so a profile card can show local time: the one
    # chosen on the dashboard wins over the one the browser last reported.
    time_zone = models.CharField(max_length=64, blank=True)
    reported_time_zone = models.CharField(max_length=64, blank=True, editable=False)
    # When the user's last socket closed (or its process stopped renewing it).
    last_seen = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    @property
    def display_name(self) -> str:
        full_name = f"{self.first_name} {self.last_name}".strip()
        return full_name or self.username

    @property
    def initials(self) -> str:
        parts = [self.first_name, self.last_name] if self.first_name else [self.username]
        return "".join(part[0] for part in parts if part).upper()[:2] or "?"


class ApiToken(models.Model):
    """A named bearer token for bots and scripts; only its SHA-256 hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class SocketTicket(models.Model):
    """A single-use, short-lived credential a client sends as its socket's first frame."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="socket_tickets")
    key_hash = models.CharField(max_length=64, unique=True)
    session_key = models.CharField(max_length=40, blank=True)
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.CASCADE)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"ticket for {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M:%S}"
