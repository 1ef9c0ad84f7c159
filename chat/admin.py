"""Rooms in the Django admin: staff create and delete public rooms here (through the services,
so open sockets hear of it). Private and direct rooms, memberships and messages are not
registered or listed at all: who talks to whom, and what they say, is not staff's to see."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from chat import services
from chat.errors import ChatError
from chat.models import Room


class PublicRoomForm(forms.ModelForm):
    """The admin's room form checks a name as the staff page does (unique, whatever its case)."""

    class Meta:
        model = Room
        fields = ("name",)

    def clean_name(self):
        try:
            return services.public_room_name_clean(self.cleaned_data["name"])
        except ChatError as error:
            raise ValidationError(error.detail) from None


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    form = PublicRoomForm
    list_display = ("name", "slug", "last_seq", "last_message_at", "created_at")
    search_fields = ("name", "slug")
    fields = ("name",)
    actions = ("delete_public_rooms",)

    def get_queryset(self, request):
        """Public rooms only: a private or direct room's id, name or slug never reaches a page."""
        return super().get_queryset(request).filter(kind=Room.Kind.PUBLIC)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        """A room added here is a public room, created as the staff page creates one."""
        room = services.room_create_public(creator=request.user, name=form.cleaned_data["name"])
        obj.pk, obj.slug, obj.kind = room.pk, room.slug, room.kind

    def delete_model(self, request, obj):
        services.room_delete(actor=request.user, room_id=obj.id)

    @admin.action(description="Delete the selected public rooms")
    def delete_public_rooms(self, request, queryset):
        for room in queryset:
            services.room_delete(actor=request.user, room_id=room.id)
