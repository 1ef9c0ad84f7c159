"""The emoji a reaction may be: the fully-qualified emoji of the `emoji` package (Unicode's own
emoji-test data, maintained upstream), and the picker's searchable list of them."""

from functools import cache

import emoji

# Shown in the picker while a person has reacted with fewer than six emoji of their own.
DEFAULT_FREQUENT = ("👍", "❤️", "😂", "🎉", "😮", "😢")
FREQUENT_COUNT = 6
_SKIN_TONES = range(0x1F3FB, 0x1F400)


@cache
def reaction_emoji() -> frozenset[str]:
    """Every emoji a reaction may carry (skin-tone variants included)."""
    fully_qualified = emoji.STATUS["fully_qualified"]
    return frozenset(e for e, data in emoji.EMOJI_DATA.items() if data["status"] == fully_qualified)


@cache
def picker_entries() -> tuple[tuple[str, str], ...]:
    """(emoji, searchable name) for the picker, without skin-tone variants."""
    return tuple(
        (e, " ".join([data["en"], *data.get("alias", [])]).replace(":", "").replace("_", " "))
        for e, data in emoji.EMOJI_DATA.items()
        if e in reaction_emoji() and not any(ord(char) in _SKIN_TONES for char in e)
    )
