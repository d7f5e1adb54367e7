"""{% signup_box guide=guide chapter=chapter form="inline" %}: the newsletter box.

Use it in a page's `lead_capture` block:

    {% load lead_capture %}
    {% signup_box guide=guide chapter=chapter form="inline" %}

`guide` (a guides.content.Guide) gives the audience and pitch; `chapter` (a Chapter) and
`form` (a short name such as "inline", "footer", "home") are recorded as the signup's source.
The box holds nothing per visitor, so the page around it stays cacheable. Its count label
comes from the cache (no query on a warm page). Element ids derive from `form`: use a
different `form` name for each box on one page.
"""

from typing import Any

from django import template

from contacts.selectors import signup_box_context
from guides.content import Chapter, Guide

register = template.Library()


@register.inclusion_tag("contacts/signup_box.html")
def signup_box(
    guide: Guide | None = None, chapter: Chapter | None = None, form: str = "inline"
) -> dict[str, Any]:
    return signup_box_context(guide=guide or None, chapter=chapter or None, form_name=form)
