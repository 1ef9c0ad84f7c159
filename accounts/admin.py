from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.html import format_html

from accounts import services
from accounts.models import ApiToken, User


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
