import logging

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.html import format_html

from accounts import services
from accounts.models import ApiToken, User
from accounts.sessions import user_sessions_end

logger = logging.getLogger(__name__)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin with the picture shown; pictures change only through the dashboard."""

    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Picture", {"fields": ("avatar_preview",)}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "password1", "password2")}),
    )
    readonly_fields = ("avatar_preview",)
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")
    actions = ("remove_pictures",)

    def user_change_password(self, request, id, form_url=""):
        """Django's password form; a password set or removed here signs the user out everywhere,
        is logged and is mailed to the user, so taking over an account is never silent."""
        before = User.objects.filter(pk=unquote(id)).values_list("password", flat=True).first()
        response = super().user_change_password(request, id, form_url)
        user = User.objects.filter(pk=unquote(id)).first()
        if user is not None and user.password != before:
            _password_set_by_admin(request, user)
        return response

    def save_model(self, request, obj, form, change):
        old_email = form.initial.get("email", "")
        super().save_model(request, obj, form, change)
        if change and "email" in form.changed_data:
            _email_changed_by_admin(request, obj, old_email)

    def get_deleted_objects(self, objs, request):
        """The confirmation names the users only: never their rooms, memberships or messages."""
        _, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        return [str(user) for user in objs], model_count, perms_needed, protected

    @admin.display(description="Picture")
    def avatar_preview(self, user: User) -> str:
        if not user.avatar:
            return "No picture"
        return format_html('<img src="{}" alt="" width="96" height="96">', user.avatar.url)

    @admin.action(description="Remove the selected users' pictures")
    def remove_pictures(self, request, queryset) -> None:
        for user in queryset.exclude(avatar=""):
            services.avatar_remove(user=user)
        messages.success(request, "Pictures removed.")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made on the dashboard; staff can only look and revoke."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "key_hash",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        revoked = sum(
            services.api_token_revoke(user=token.user, token_id=token.id) for token in queryset
        )
        messages.success(request, f"{revoked} token(s) revoked.")


def _password_set_by_admin(request, user: User) -> None:
    # The admin's own session survives when they change their own password, as Django intends.
    keep = request.session.session_key if user.pk == request.user.pk else ""
    user_sessions_end(user=user, keep_session_key=keep or "")
    logger.warning(
        "admin %s set the password of user %s; their sessions are ended", request.user.pk, user.pk
    )
    change = (
        "set a new password for" if user.has_usable_password() else "turned off password log-in on"
    )
    reset_url = settings.SITE_URL + reverse("accounts:password_reset")
    _mail_user(
        address=user.email,
        user=user,
        what=f"An administrator of Parley {change} your account, and every browser signed in to "
        "it was signed out. Your API tokens still work.",
        advice="If you did not ask for this, choose a new password here and check the API tokens "
        f"on your profile page:\n\n{reset_url}",
    )


def _email_changed_by_admin(request, user: User, old_email: str) -> None:
    # Password reset mail follows the address, so this is a way into the account too.
    logger.warning("admin %s changed the email address of user %s", request.user.pk, user.pk)
    _mail_user(
        address=old_email,
        user=user,
        what=f"An administrator of Parley changed your account's email address from {old_email} "
        f"to {user.email}; password reset mail now goes there.",
        advice="If you did not ask for this, tell the people who run this Parley site.",
    )


def _mail_user(*, address: str, user: User, what: str, advice: str) -> None:
    """A plain mail telling a user what an administrator did to their account."""
    if address:
        send_mail(
            subject="An administrator changed your Parley account",
            message=f"Hello {user.get_username()},\n\n{what}\n\n{advice}\n\nParley\n",
            from_email=None,
            recipient_list=[address],
        )
