"""What makes the chat page cheaper renders what it did before: the template tags as the
includes they replace, a page of messages as each message alone, remembered addresses as
reverse()."""

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.urls import clear_script_prefix, reverse, set_script_prefix

from chat import services
from chat.models import Room
from chat.queries import messages_before
from chat.serializers import address, message_dict, message_dicts
from tests.factories import UserFactory, make_room, new_client_id


def render(source: str, **context) -> str:
    return Template("{% load chat_tags %}" + source).render(Context(context))


def test_include_each_renders_as_an_include_in_a_for_loop_and_keeps_its_name_inside():
    rooms = [
        {"id": 1, "name": "One", "kind": "public", "url": "/chat/r/one/", "unread": 2},
        {"id": 2, "name": "<b>Two</b>", "kind": "private", "url": "/chat/r/two/"},
    ]
    looped = render(
        '{% for summary in rooms %}{% include "chat/_room_item.html" %}{% endfor %}',
        rooms=rooms,
        open={"room": 2},
    )
    each = render(
        '{% include_each "chat/_room_item.html" as summary in rooms %}[{{ summary }}]',
        rooms=rooms,
        open={"room": 2},
    )
    assert each == looped + "[]"
    assert "&lt;b&gt;Two&lt;/b&gt;" in each and 'aria-current="page"' in each
    assert render('{% include_each "chat/_room_item.html" as summary in nothing %}') == ""


@pytest.mark.parametrize(
    "source",
    [
        "{% include_each 'chat/_room_item.html' summary in rooms %}",
        "{% include_each chat/_room_item.html as summary in rooms %}",
        "{% include_each 'chat/_room_item.html' as summary of rooms %}",
    ],
)
def test_include_each_refuses_anything_but_a_quoted_partial_as_a_name_in_items(source):
    with pytest.raises(TemplateSyntaxError):
        render(source)


@pytest.mark.parametrize("kind", ["public", "private", "direct", ""])
def test_room_glyph_is_the_glyph_partial_of_the_kind(kind):
    included = render('{% include "chat/_room_glyph.html" with kind=kind %}', kind=kind)
    assert render("{% room_glyph kind %}{% room_glyph kind %}", kind=kind) == included * 2


@pytest.mark.django_db
def test_message_dicts_serialise_each_message_as_message_dict_does():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    for n in range(4):
        author = bob if n % 2 else alice
        services.message_post(
            author=author, room_id=room.id, body=f"m{n}", client_id=new_client_id()
        )
    messages, _ = messages_before(room_id=room.id, before=None, limit=10)
    assert message_dicts(messages) == [message_dict(m) for m in messages]


def test_a_remembered_address_is_reverse_under_each_script_prefix():
    plain = reverse("chat:room", args=["lunch"])
    assert address("chat:room", "lunch") == plain == "/chat/r/lunch/"
    set_script_prefix("/parley/")
    try:
        assert address("chat:room", "lunch") == "/parley" + plain
    finally:
        clear_script_prefix()
    assert address("chat:room", "lunch") == plain
