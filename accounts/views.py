"""Account pages. Each view translates HTTP into a service call and back."""

import hashlib
import math
from html import escape

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from accounts import services, sessions, throttle
from accounts.avatars import AvatarRejected
from accounts.forms import (
    LoginForm,
    PresenceSettingsForm,
    ProfileForm,
    SignOutEverywhereForm,
    SignupForm,
    SiteUrlPasswordResetForm,
    ThemeForm,
    ThrottledPasswordChangeForm,
    TokenCreateForm,
)
from accounts.models import User

NEW_KEY_SESSION_KEY = "accounts.new_api_key"
INITIALS_AVATAR_MAX_AGE = 3600


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True


def signup(request):
    if request.user.is_authenticated:
        return redirect("chat:lobby")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_signup(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Parley, {user.display_name}!")
        return redirect("chat:lobby")
    return render(request, "accounts/signup.html", {"form": form})


@never_cache
@login_required
def profile(request):
    user = request.user
    if request.method == "POST":
        form = ProfileForm(
            request.POST, request.FILES, user=user, address=throttle.client_address(request)
        )
        if form.is_valid() and _profile_save(user, form):
            messages.success(request, "Your profile is saved.")
            return redirect("accounts:profile")
    else:
        form = ProfileForm(user=user)
    return _profile_page(request, form=form)


def _profile_page(request, *, form=None, presence_form=None):
    user = request.user
    context = {
        "form": form or ProfileForm(user=user),
        "presence_form": presence_form or PresenceSettingsForm(user=user),
        "token_form": TokenCreateForm(),
        "sign_out_form": SignOutEverywhereForm(),
        "tokens": user.api_tokens.all(),
        "new_key": request.session.pop(NEW_KEY_SESSION_KEY, None),
    }
    return render(request, "accounts/profile.html", context)


@never_cache
@login_required
@require_POST
def presence_settings(request):
    form = PresenceSettingsForm(request.POST, user=request.user)
    if not form.is_valid():
        return _profile_page(request, presence_form=form)
    services.presence_settings_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Your presence settings are saved.")
    return redirect("accounts:profile")


def _profile_save(user: User, form: ProfileForm) -> bool:
    """Save a valid profile form; False when the picture is refused (nothing saved then)."""
    data = form.cleaned_data
    try:
        if data["avatar"]:
            services.avatar_set(user=user, upload=data["avatar"])
    except AvatarRejected as error:
        form.add_error("avatar", str(error))
        return False
    if data["avatar_remove"]:
        services.avatar_remove(user=user)
    services.profile_update(
        user=user, first_name=data["first_name"], last_name=data["last_name"], email=data["email"]
    )
    return True


@login_required
@require_POST
def theme_set(request):
    """Keep the colour scheme chosen in the header, then go back to the page it was chosen on."""
    form = ThemeForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose system, light or dark.")
    services.user_theme_set(user=request.user, theme=form.cleaned_data["theme"])
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("accounts:profile")
    return redirect(back)


@login_required
@require_POST
def token_create(request):
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the token a name of at most 100 characters.")
        return redirect("accounts:profile")
    token, key = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
    request.session[NEW_KEY_SESSION_KEY] = {"name": token.name, "key": key}
    return redirect("accounts:profile")


@login_required
@require_POST
def token_revoke(request, token_id: int):
    if services.api_token_revoke(user=request.user, token_id=token_id):
        messages.success(request, "The token is revoked; clients using it are disconnected.")
    else:
        messages.error(request, "No such live token.")
    return redirect("accounts:profile")


@login_required
@require_POST
def sign_out_everywhere(request):
    form = SignOutEverywhereForm(request.POST)
    revoke_tokens = form.is_valid() and form.cleaned_data["revoke_tokens"]
    user = request.user
    if revoke_tokens:
        services.api_tokens_revoke_all(user=user)
    sessions.user_sessions_end(user=user, keep_session_key=request.session.session_key or "")
    logout(request)  # this browser's session last, through Django's own log-out
    messages.success(
        request,
        "You are signed out everywhere"
        + (", and your API tokens are revoked." if revoke_tokens else "."),
    )
    return redirect("accounts:login")


@login_required
@require_safe
def initials_avatar(request, username: str):
    if "\x00" in username:  # no username has one, and PostgreSQL refuses it in a query
        raise Http404("No such user.")
    user = get_object_or_404(User, username=username)
    hue = int(hashlib.sha256(user.username.encode()).hexdigest()[:8], 16) % 360
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
        f'<rect width="96" height="96" fill="hsl({hue}, 55%, 42%)"/>'
        '<text x="48" y="48" dy="0.35em" text-anchor="middle" fill="#ffffff" font-size="38" '
        'font-weight="600" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
        f"{escape(user.initials)}</text></svg>"
    )
    response = HttpResponse(svg, content_type="image/svg+xml")
    patch_cache_control(response, private=True, max_age=INITIALS_AVATAR_MAX_AGE)
    return response


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = ThrottledPasswordChangeForm
    success_url = reverse_lazy("accounts:password_change_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "address": throttle.client_address(self.request)}


password_change = PasswordChangeView.as_view()
password_reset = auth_views.PasswordResetView.as_view(
    form_class=SiteUrlPasswordResetForm,
    success_url=reverse_lazy("accounts:password_reset_done"),
    subject_template_name="registration/password_reset_subject.txt",
    email_template_name="registration/password_reset_email.txt",
)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Reset links are checked behind the log-in throttle's per-address limit."""

    success_url = reverse_lazy("accounts:password_reset_complete")

    def dispatch(self, request, *args, **kwargs):
        self.address = throttle.client_address(request)
        wait = throttle.login_retry_after(address=self.address)
        if wait:
            context = {"validlink": False, "throttled_minutes": math.ceil(wait / 60)}
            return render(request, self.template_name, context, status=429)
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == 200 and not self.validlink:  # "this link no longer works"
            throttle.login_failure_record(address=self.address)
        return response

    def form_valid(self, form):
        # The link proved the mailbox: the new password works from here at once.
        throttle.login_success_record(username=self.user.get_username(), address=self.address)
        return super().form_valid(form)


password_reset_confirm = PasswordResetConfirmView.as_view()
