from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("search/", views.search, name="search"),
    path("emoji/", views.emoji_picker, name="emoji"),
    path("rooms/new/", views.room_create, name="room_create"),
    path("rooms/<int:room_id>/join/", views.room_join, name="room_join"),
    path("rooms/<int:room_id>/leave/", views.room_leave, name="room_leave"),
    path("rooms/<int:room_id>/invite/", views.member_invite, name="member_invite"),
    path(
        "rooms/<int:room_id>/members/<int:user_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("r/<slug:slug>/", views.room_page, name="room"),
    path("dm/<str:username>/", views.direct_page, name="direct"),
    path("staff/rooms/", views.staff_rooms, name="staff_rooms"),
    path("staff/rooms/<int:room_id>/delete/", views.staff_room_delete, name="staff_room_delete"),
]
