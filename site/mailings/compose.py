"""The one mail composer: templates/emails/<name>.{subject.txt,txt,html} -> a message.

It is the only place that sets List-Unsubscribe / List-Unsubscribe-Post (RFC 8058), and it
builds absolute links from SITE_URL. HTML gets its CSS inlined for mail clients.
"""

from dataclasses import dataclass
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

import css_inline

_inliner = css_inline.CSSInliner(load_remote_stylesheets=False)


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


def unsubscribe_headers(unsubscribe_url: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe headers for an absolute URL (one recipient's)."""
    if not unsubscribe_url.startswith(("https://", "http://")):
        raise ValueError("unsubscribe_url must be absolute")
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def compose(*, template: str, context: dict[str, Any], unsubscribe_url: str = "") -> Composed:
    """Render the three parts of `emails/<template>`; add unsubscribe headers given a URL."""
    parts = _render(template=template, context=context, unsubscribe_url=unsubscribe_url)
    headers = unsubscribe_headers(unsubscribe_url) if unsubscribe_url else {}
    return Composed(*parts, headers=headers)


def compose_batch(*, template: str, context: dict[str, Any], merge_field: str) -> Composed:
    """Render `emails/<template>` once for a batch: the per-recipient links are ESP merge
    fields written as `merge_field` ("{}" is the field name: `unsubscribe_url`, `view_url`).

    No headers: each recipient's List-Unsubscribe travels in the batch's `merge_headers`
    (`unsubscribe_headers`).
    """
    context = {**context, "view_url": merge_field.format("view_url")}
    parts = _render(
        template=template, context=context, unsubscribe_url=merge_field.format("unsubscribe_url")
    )
    return Composed(*parts, headers={})


def _render(
    *, template: str, context: dict[str, Any], unsubscribe_url: str
) -> tuple[str, str, str]:
    ctx = {
        **context,
        "SITE_URL": settings.SITE_URL,
        "SITE_NAME": settings.SITE_NAME,
        "POSTAL_ADDRESS": settings.MAIL_POSTAL_ADDRESS,
        "unsubscribe_url": unsubscribe_url,
    }
    prefix = f"emails/{template}"
    subject = " ".join(render_to_string(f"{prefix}.subject.txt", ctx).split())
    text = render_to_string(f"{prefix}.txt", ctx).strip() + "\n"
    html = _inliner.inline(render_to_string(f"{prefix}.html", ctx))
    return subject, text, html


def build_message(
    *, to: str, composed: Composed, attachment: tuple[str, bytes] | None = None
) -> EmailMultiAlternatives:
    """A multipart/alternative message with our own Message-ID (used to match ESP events)."""
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">") or "localhost"
    headers = {**composed.headers, "Message-ID": make_msgid(domain=domain)}
    message = EmailMultiAlternatives(
        subject=composed.subject,
        body=composed.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    message.attach_alternative(composed.html, "text/html")
    if attachment is not None:
        filename, content = attachment
        message.attach(filename, content, "application/pdf")
    return message


def build_batch_message(*, to: list[str], composed: Composed) -> EmailMultiAlternatives:
    """One message for many recipients; the caller sets `merge_data` (which makes the ESP
    send each recipient their own copy) and `merge_headers`. No Message-ID: each copy gets
    its own from the ESP (`anymail_status`)."""
    message = EmailMultiAlternatives(
        subject=composed.subject,
        body=composed.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(composed.html, "text/html")
    return message
