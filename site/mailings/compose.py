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


def compose(*, template: str, context: dict[str, Any], unsubscribe_url: str = "") -> Composed:
    """Render the three parts of `emails/<template>`; add unsubscribe headers given a URL."""
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
    headers: dict[str, str] = {}
    if unsubscribe_url:
        if not unsubscribe_url.startswith(("https://", "http://")):
            raise ValueError("unsubscribe_url must be absolute")
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return Composed(subject=subject, text=text, html=html, headers=headers)


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
