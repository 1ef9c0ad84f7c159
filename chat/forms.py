from django import forms

from chat.services import ROOM_NAME_MAX


class RoomForm(forms.Form):
    name = forms.CharField(label="Room name", max_length=ROOM_NAME_MAX)


class InviteForm(forms.Form):
    username = forms.CharField(label="Invite by username", max_length=150)
