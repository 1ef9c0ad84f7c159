"""Rooms in the Django admin: staff create and delete public rooms here (through the services,
so open sockets hear of it). Private and direct rooms are listed, never read or edited: their
messages are not staff's to see."""

from django.contrib import admin

from chat import services
from chat.models import Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "slug", "last_seq", "last_message_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "slug")
    fields = ("name",)
    actions = ("delete_public_rooms",)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        is_public = obj is None or obj.kind == Room.Kind.PUBLIC
        return is_public and super().has_delete_permission(request, obj)

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
        for room in queryset.filter(kind=Room.Kind.PUBLIC):
            services.room_delete(actor=request.user, room_id=room.id)
