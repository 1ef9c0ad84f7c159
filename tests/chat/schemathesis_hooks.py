"""Loaded by the schemathesis runs of test_openapi_contract: values of the document's custom
string format "emoji" (what a reaction may be), so that schema-valid requests are valid."""

import schemathesis
from hypothesis import strategies as st

from chat.emoji_data import reaction_emoji

schemathesis.openapi.format("emoji", st.sampled_from(sorted(reaction_emoji())))
