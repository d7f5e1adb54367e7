"""{% pdf_box guide=guide chapter=chapter form="pdf" %}: the "Get the PDF" box.

Use it in a page's `lead_capture` block, next to the newsletter box:

    {% load pdf_capture %}
    {% pdf_box guide=guide chapter=chapter form="pdf" %}

`guide` (a guides.content.Guide) is the eBook asked for; without one (the home page) the box
offers a choice of every guide. `chapter` (a Chapter) and `form` (a short name such as "pdf",
"guide-pdf", "home-pdf") are recorded as the request's source. The box holds nothing per
visitor and costs no query, so the page around it stays cacheable. Element ids derive from
`form`: use a different `form` name for each box on one page.
"""

from typing import Any

from django import template

from ebooks.selectors import pdf_box_context
from guides.content import Chapter, Guide

register = template.Library()


@register.inclusion_tag("ebooks/pdf_box.html")
def pdf_box(
    guide: Guide | None = None, chapter: Chapter | None = None, form: str = "pdf"
) -> dict[str, Any]:
    return pdf_box_context(guide=guide or None, chapter=chapter or None, form_name=form)
