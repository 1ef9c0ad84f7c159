"""Forms check the shape of what people type; services do the writing."""

import math
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
)
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from accounts import throttle
from accounts.models import User
from accounts.services import time_zones
from imaging.limits import ACCEPTED_FORMATS

EMAIL_TAKEN = "An account with that email address already exists."
T = TypeVar("T")


def password_check_throttled(check: Callable[[], T], *, username: str, address: str) -> T:
    """Run `check` (which raises ValidationError for a wrong password) unless throttled."""
    wait = throttle.login_retry_after(username=username, address=address)
    if wait:
        minutes = math.ceil(wait / 60)
        raise ValidationError(
            "Too many failed attempts; try again in %(minutes)d minute%(plural)s.",
            code="throttled",
            params={"minutes": minutes, "plural": "" if minutes == 1 else "s"},
        )
    try:
        result = check()
    except ValidationError:
        throttle.login_failure_record(username=username, address=address)
        raise
    throttle.login_success_record(username=username, address=address)
    return result


class ThrottledLoginMixin:
    """Refuses to check a password after too many failures from this address."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()
        address = throttle.client_address(self.request) if self.request else ""
        return password_check_throttled(super().clean, username=username, address=address)


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The site's log-in form."""


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's log-in form, behind the same throttle as the site's."""


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's password change, whose check of the old password is throttled like a log-in."""

    def __init__(self, user: User, *args, address: str, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.address = address

    def clean_old_password(self) -> str:
        return password_check_throttled(
            super().clean_old_password, username=self.user.get_username(), address=self.address
        )


class SignupForm(forms.Form):
    """A new account: username, email address and a password typed twice."""

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        help_text=password_validation.password_validators_help_text_html(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password (again)",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError("That username is taken; choose another.", code="taken")
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError(EMAIL_TAKEN, code="taken")
        return email

    def clean(self):
        cleaned_data = super().clean()
        password1 = cleaned_data.get("password1")
        password2 = cleaned_data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", ValidationError("The two passwords differ.", "mismatch"))
        elif password1:
            candidate = User(
                username=cleaned_data.get("username", ""), email=cleaned_data.get("email", "")
            )
            try:
                password_validation.validate_password(password1, candidate)
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned_data


class ProfileForm(forms.Form):
    """The dashboard's profile section: name, email address and picture."""

    first_name = forms.CharField(
        max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    email = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    avatar = forms.FileField(
        label="New picture",
        required=False,
        help_text="JPEG, PNG, WebP or GIF, up to 5 MB. It is cropped to a square.",
        widget=forms.FileInput(
            attrs={"accept": ",".join(f"image/{kind.lower()}" for kind in ACCEPTED_FORMATS)}
        ),
    )
    avatar_remove = forms.BooleanField(label="Remove picture", required=False)
    current_password = forms.CharField(
        label="Current password",
        required=False,
        strip=False,
        help_text="Needed only to change your email address.",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, address: str = "", **kwargs):
        kwargs.setdefault(
            "initial",
            {"first_name": user.first_name, "last_name": user.last_name, "email": user.email},
        )
        super().__init__(*args, **kwargs)
        self.user = user
        self.address = address

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if User.objects.filter(email__iexact=email).exclude(pk=self.user.pk).exists():
            raise ValidationError(EMAIL_TAKEN, code="taken")
        return email

    def clean(self):
        cleaned_data = super().clean()
        if cleaned_data.get("avatar") and cleaned_data.get("avatar_remove"):
            self.add_error(
                "avatar_remove",
                "Choose a new picture or remove the current one, not both.",
            )
        email = cleaned_data.get("email")
        if email and User.objects.normalize_email(email) != self.user.email:
            # Whoever holds the address can reset the password: a stolen session alone must not
            # be enough to take the account over.
            try:
                self._current_password_check(cleaned_data.get("current_password"))
            except ValidationError as error:
                self.add_error("current_password", error)
        return cleaned_data

    def _current_password_check(self, password: str | None) -> None:
        if not password:
            raise ValidationError(
                "Enter your current password to change your email address.", code="required"
            )

        def check() -> None:
            if not self.user.check_password(password):
                raise ValidationError(
                    "That is not your current password.", code="password_incorrect"
                )

        password_check_throttled(check, username=self.user.get_username(), address=self.address)


def _time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(time_zones())
    return [("", "Not set (my browser reports it)"), *((zone, zone) for zone in zones)]


class PresenceSettingsForm(forms.Form):
    """The dashboard's presence section: who sees that the user is around, and their time."""

    show_presence = forms.BooleanField(
        label="Show people in my rooms when I am online",
        required=False,
        help_text="Off: you always look offline, with no last-seen time.",
    )
    send_read_receipts = forms.BooleanField(
        label="Send read receipts",
        required=False,
        help_text="Off: nobody sees what you have read, and you see no one's receipts either.",
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        choices=_time_zone_choices,
        help_text="Shown as your local time on your profile card.",
    )

    def __init__(self, *args, user: User, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "show_presence": user.show_presence,
                "send_read_receipts": user.send_read_receipts,
                "time_zone": user.time_zone,
            },
        )
        super().__init__(*args, **kwargs)


class TokenCreateForm(forms.Form):
    """A name for a new API token, so its owner can tell tokens apart."""

    name = forms.CharField(
        label="Token name", max_length=100, widget=forms.TextInput(attrs={"placeholder": "My bot"})
    )


class SignOutEverywhereForm(forms.Form):
    """Ending every session of the account, and on request its API tokens too."""

    revoke_tokens = forms.BooleanField(
        label="Also revoke my API tokens",
        required=False,
        help_text="Bots and scripts using them are disconnected and need a new token.",
    )


class SiteUrlPasswordResetForm(PasswordResetForm):
    """Django's reset form; its links point at SITE_URL, never at the Host the request named."""

    def save(self, **kwargs) -> None:
        site = urlsplit(settings.SITE_URL)
        kwargs.update(domain_override=site.netloc, use_https=site.scheme == "https")
        super().save(**kwargs)


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(label="Colour scheme", choices=User.Theme.choices)
