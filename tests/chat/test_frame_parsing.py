"""Frames are parsed with their nesting bounded, cheaply for the flat frames nearly all are."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chat import consumers
from tests.chat.test_fuzz import json_scalars


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        json_scalars | st.text("{}[]a", max_size=6),
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(st.text("{[a", max_size=3), children)
        ),
        max_leaves=10,
    )
)
def test_a_frame_is_parsed_as_deep_as_the_limit_allows_whatever_its_brackets(value):
    """The parser skips the depth walk for texts with few brackets: it must judge every text
    as the walk does, brackets inside strings included."""
    walked = value if consumers._depth_within(value, consumers.FRAME_MAX_DEPTH) else None
    assert json.dumps(consumers._parse(json.dumps(value))) == json.dumps(walked)


def test_the_limit_is_four_levels_of_brackets():
    assert consumers._parse('{"a": [[[1]]]}') == {"a": [[[1]]]}
    assert consumers._parse('{"a": [[[[1]]]]}') is None
    assert consumers._parse('{"a": "[[[[[[["}') == {"a": "[[[[[[["}
