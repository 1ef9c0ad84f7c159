from django import template

from chat.serializers import avatar_url

register = template.Library()


@register.filter
def avatar_src(user) -> str:
    """The user's picture, or their generated initials avatar."""
    return avatar_url(user)


@register.simple_tag(takes_context=True)
def room_glyph(context, kind: str) -> str:
    """A room kind's glyph (chat/_room_glyph.html), rendered once per kind and page: the
    sidebar repeats it for each room."""
    glyphs = context.render_context.dicts[0].setdefault("room_glyphs", {})
    if kind not in glyphs:
        glyph = context.template.engine.get_template("chat/_room_glyph.html")
        glyphs[kind] = glyph.render(template.Context({"kind": kind}))
    return glyphs[kind]


@register.tag
def include_each(parser, token):
    """{% include_each "partial.html" as name in items %}: the partial once per item, with the
    item as `name`, as a {% for %} around an {% include %} renders it but without an include's
    lookup and context per item (about a third of the cost of the chat page's lists)."""
    bits = token.split_contents()
    if len(bits) != 6 or bits[2] != "as" or bits[4] != "in":
        raise template.TemplateSyntaxError(
            f'{bits[0]} takes "partial.html" as <name> in <items>, not {token.contents!r}'
        )
    name = bits[1]
    if len(name) < 2 or name[0] != name[-1] or name[0] not in "'\"":
        raise template.TemplateSyntaxError(f"{bits[0]} takes a quoted template name")
    return IncludeEachNode(name[1:-1], bits[3], parser.compile_filter(bits[5]))


class IncludeEachNode(template.Node):
    def __init__(self, template_name: str, name: str, items):
        self.template_name, self.name, self.items = template_name, name, items

    def render(self, context) -> str:
        partial = context.template.engine.get_template(self.template_name)
        parts = []
        with context.push(), context.render_context.push_state(partial):
            for item in self.items.resolve(context, ignore_failures=True) or ():
                context[self.name] = item
                parts.append(partial._render(context))
        return "".join(parts)
