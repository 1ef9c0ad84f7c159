"""A message's Markdown rendered once, on the server: markdown-it-py (CommonMark, raw HTML off,
a chat subset) and then nh3 (Ammonia) with an explicit allow-list, so that the stored HTML is the
only markup a client inserts."""

import re
from dataclasses import dataclass, field

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

# Schemes a link may carry; everything else (javascript:, data:, vbscript:, relative) is text.
URL_SCHEMES = frozenset({"http", "https", "mailto"})
ALLOWED_TAGS = frozenset(
    {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span"}
)
ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}, "span": {"data-user-id"}}
ALLOWED_CLASSES = {"span": {"mention", "mention-room"}}
LINK_REL = "noopener noreferrer nofollow ugc"
ROOM_MENTION = "room"
# "@name": a username (Django's letters, digits and @.+-_ less the "@") not glued to a word before.
MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")


def _link_allowed(url: str) -> bool:
    """markdown-it's link check, narrowed to the allowed schemes (its own lets ftp: and others
    through); a disallowed link stays literal text."""
    scheme, colon, _ = url.strip().partition(":")
    return bool(colon) and scheme.lower() in URL_SCHEMES


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    md.enable(["linkify", "strikethrough"])
    # A chat subset: no images, headings, rules or reference definitions.
    md.disable(["image", "heading", "lheading", "hr", "reference"])
    md.validateLink = _link_allowed
    md.core.ruler.push("mentions", _mention_rule)
    md.add_render_rule("mention", _mention_render)
    return md


@dataclass
class Mentions:
    """Who may be mentioned (by lowercase username) and who was, filled in while rendering."""

    members: dict[str, tuple[int, str]] = field(default_factory=dict)  # name: (id, username)
    room_allowed: bool = False
    user_ids: list[int] = field(default_factory=list)
    room: bool = False

    def resolve(self, name: str) -> tuple[int | None, str] | None:
        """(user id, username) of a member named `name` (trailing punctuation is not part of a
        name), (None, "room") for @room when allowed; None for anything else."""
        while name:
            if name.lower() == ROOM_MENTION and self.room_allowed:
                return None, ROOM_MENTION
            if name.lower() in self.members:
                return self.members[name.lower()]
            if name[-1] not in ".+-":
                return None
            name = name[:-1]
        return None


def _mention_rule(state) -> None:
    """Turn "@name" in plain text (not in code or links) into mention tokens."""
    mentions = state.env.get("mentions")
    if mentions is None:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children, in_link = [], 0
        for token in block.children:
            in_link += {"link_open": 1, "link_close": -1}.get(token.type, 0)
            if token.type == "text" and not in_link and "@" in token.content:
                children.extend(_split_mentions(token, mentions))
            else:
                children.append(token)
        block.children = children


def _split_mentions(token: Token, mentions: Mentions) -> list[Token]:
    tokens, text, start = [], token.content, 0
    for match in MENTION.finditer(text):
        found = mentions.resolve(match.group(1))
        if found is None:
            continue
        user_id, username = found
        end = match.start() + 1 + len(username)
        if match.start() > start:
            tokens.append(_text(text[start : match.start()], token))
        mention = Token("mention", "span", 0)
        mention.content = username
        mention.meta = {"user_id": user_id}
        tokens.append(mention)
        if user_id is None:
            mentions.room = True
        elif user_id not in mentions.user_ids:
            mentions.user_ids.append(user_id)
        start = end
    if start < len(text):
        tokens.append(_text(text[start:], token))
    return tokens


def _text(content: str, like: Token) -> Token:
    token = Token("text", "", 0, level=like.level)
    token.content = content
    return token


def _mention_render(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    name = nh3.clean_text(token.content)
    if token.meta["user_id"] is None:
        return f'<span class="mention mention-room">@{name}</span>'
    return f'<span class="mention" data-user-id="{token.meta["user_id"]}">@{name}</span>'


def _attribute_allowed(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "data-user-id" and not value.isdigit():
        return None
    if attribute == "start" and not (value.isdigit() and len(value) <= 9):
        return None
    if attribute == "href" and not _link_allowed(value):
        return None
    return value


def sanitise(html: str) -> str:
    """Keep only the allow-listed tags, attributes, classes and URL schemes."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_allowed,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
        allowed_classes={tag: set(names) for tag, names in ALLOWED_CLASSES.items()},
        strip_comments=True,
    )


_MD = _markdown()


# One line of prose that no Markdown rule, link or mention can start from (letters, digits,
# spaces and , ? ! '): markdown-it and nh3 make a paragraph of it, as is. Most chat messages are
# such a line; rendering it without them saves about 45 µs of a message's CPU.
PLAIN = re.compile(r"(?:[^\W_]|[ ,?!'])+")


def render(body: str, mentions: Mentions | None = None) -> str:
    """The message's safe HTML; `mentions` (if given) learns who was mentioned."""
    if PLAIN.fullmatch(body):
        return f"<p>{body}</p>"
    return sanitise(_MD.render(body, {"mentions": mentions})).strip()
