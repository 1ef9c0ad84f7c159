import pytest
from django.urls import reverse

from accounts.models import User

SETTINGS = reverse("accounts:presence_settings")


@pytest.mark.django_db
def test_presence_settings_need_login(client):
    response = client.post(SETTINGS, {"show_presence": "on"})

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_the_dashboard_shows_presence_settings_on_by_default(client, user):
    client.force_login(user)

    response = client.get(reverse("accounts:profile"))

    form = response.context["presence_form"]
    assert form.initial == {"show_presence": True, "send_read_receipts": True, "time_zone": ""}
    assert "Save presence settings" in response.content.decode()


def test_a_user_hides_presence_turns_receipts_off_and_sets_a_time_zone(client, user):
    client.force_login(user)

    response = client.post(SETTINGS, {"time_zone": "America/Sao_Paulo"})

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.show_presence, user.send_read_receipts, user.time_zone) == (
        False,
        False,
        "America/Sao_Paulo",
    )


def test_an_unknown_time_zone_is_refused_and_nothing_changes(client, user):
    client.force_login(user)

    response = client.post(SETTINGS, {"show_presence": "on", "time_zone": "Mars/Olympus_Mons"})

    assert response.status_code == 200
    assert response.context["presence_form"].errors["time_zone"]
    fresh = User.objects.get(id=user.id)
    assert (fresh.show_presence, fresh.time_zone) == (True, "")


def test_presence_settings_are_posted_only(client, user):
    client.force_login(user)

    assert client.get(SETTINGS).status_code == 405
