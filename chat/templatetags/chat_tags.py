from django import template

from chat.serializers import avatar_url

register = template.Library()


@register.filter
def avatar_src(user) -> str:
    """The user's picture, or their generated initials avatar."""
    return avatar_url(user)
