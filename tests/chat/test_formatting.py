"""The Markdown subset as HTML, and the XSS corpus through the renderer: nothing outside the
allow-list survives."""

from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.formatting import (
    _MD,
    ALLOWED_ATTRIBUTES,
    ALLOWED_CLASSES,
    ALLOWED_TAGS,
    LINK_REL,
    PLAIN,
    URL_SCHEMES,
    Mentions,
    render,
    sanitise,
)
from tests.xss_corpus import CORPUS

LINK = f'target="_blank" rel="{LINK_REL}"'


class Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_within_allow_list(html: str) -> None:
    for tag, attrs in elements(html):
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            if tag == "a" and (name, value) in {("target", "_blank"), ("rel", LINK_REL)}:
                continue
            if name == "class":
                assert set(value.split()) <= ALLOWED_CLASSES.get(tag, set()), html
                continue
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()), (tag, name, html)
            if name == "href":
                scheme = value.split(":", 1)[0].lower()
                assert ":" in value and scheme in URL_SCHEMES, html
            else:
                assert value.isdigit(), html  # data-user-id, start


@pytest.mark.parametrize("body", CORPUS, ids=range(len(CORPUS)))
def test_the_xss_corpus_leaves_nothing_outside_the_allow_list(body):
    html = render(body, Mentions(members={"x": (1, "x")}, room_allowed=True))
    assert_within_allow_list(html)
    lowered = html.lower()
    for danger in ("javascript:", "vbscript:", "data:", "<script", "onerror", "onload="):
        # Such words may survive only as text, never inside a tag.
        for tag_text in lowered.split("<")[1:]:
            assert danger not in tag_text.split(">")[0], (danger, html)


@pytest.mark.parametrize(
    ("body", "html"),
    [
        (
            "**bold** _it_ ~~gone~~ `x<y`",
            "<p><strong>bold</strong> <em>it</em> <s>gone</s> <code>x&lt;y</code></p>",
        ),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("3. c", '<ol start="3">\n<li>c</li>\n</ol>'),
        ("```\n  keep   this\n```", "<pre><code>  keep   this\n</code></pre>"),
        ("line\nbreak", "<p>line<br>\nbreak</p>"),
        (
            "[site](https://example.com/a?b=1&c=2)",
            f'<p><a href="https://example.com/a?b=1&amp;c=2" {LINK}>site</a></p>',
        ),
        (
            "see https://example.com.",
            f'<p>see <a href="https://example.com" {LINK}>https://example.com</a>.</p>',
        ),
        (
            "mail me@example.com",
            f'<p>mail <a href="mailto:me@example.com" {LINK}>me@example.com</a></p>',
        ),
        ("# not a heading", "<p># not a heading</p>"),
        (
            "![alt](https://example.com/a.png)",
            f'<p>!<a href="https://example.com/a.png" {LINK}>alt</a></p>',
        ),
        ("<b>raw</b>", "<p>&lt;b&gt;raw&lt;/b&gt;</p>"),
        ("[ftp](ftp://example.com/x)", "<p>[ftp](ftp://example.com/x)</p>"),
    ],
)
def test_the_markdown_subset_renders_to_its_html(body, html):
    assert render(body) == html


def test_mentions_of_members_become_spans_and_others_stay_text():
    mentions = Mentions(members={"bob": (7, "bob"), "a.b": (8, "a.b")})
    html = render("@Bob, @a.b. @carol @room `@bob` [@bob](https://x.example) mail@bob", mentions)
    assert html == (
        '<p><span class="mention" data-user-id="7">@bob</span>, '
        '<span class="mention" data-user-id="8">@a.b</span>. @carol @room <code>@bob</code> '
        f'<a href="https://x.example" {LINK}>@bob</a> mail@bob</p>'
    )
    assert (mentions.user_ids, mentions.room) == ([7, 8], False)


def test_room_mention_only_when_allowed():
    allowed = Mentions(room_allowed=True)
    assert render("@room look", allowed) == (
        '<p><span class="mention mention-room">@room</span> look</p>'
    )
    assert allowed.room is True


# Plain prose skips markdown-it and nh3: the same HTML as through them, for any such line, in
# any script.
PROSE = (
    st.text(st.characters(categories=["L", "Nd"]) | st.sampled_from(" ,?!'"), min_size=1)
    .map(str.strip)
    .filter(bool)
)


@given(PROSE)
def test_plain_prose_renders_as_markdown_it_and_nh3_would(body):
    assert PLAIN.fullmatch(body)
    assert render(body) == sanitise(_MD.render(body, {"mentions": None})).strip()


@pytest.mark.parametrize(
    "body",
    ["a_b_", "1. one", "www.example.com", "a@b", "x\ny", "<b>", "&amp;", "#tag", "~~x~~", "`c`"],
)
def test_anything_that_could_be_markdown_goes_through_the_renderer(body):
    assert not PLAIN.fullmatch(body)
