"""Campaign Markdown -> mail HTML and text, with the project's Markdown library (markdown-it).

Marketers are trusted, but what they type must not break the mail: raw HTML is escaped
(js-default has `html` off), markdown-it refuses javascript:/vbscript:/file: links, relative
links become absolute on SITE_URL (a mail has no base URL), and images and tables get inline
widths that keep the 560 px layout. The composer inlines the rest of the CSS.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.safestring import SafeString, mark_safe

from markdown_it import MarkdownIt

_SANS = "font-family:Helvetica,Arial,sans-serif;line-height:1.3;color:#1d232b;"
#: Inline styles that keep the body inside the mail's card and under its h1 (the subject).
_STYLES = {
    "img": "max-width:100%;height:auto;border:0;",
    "table": "border-collapse:collapse;width:100%;font-size:15px;margin:0 0 16px;",
    "th": "text-align:left;padding:6px 8px;border-bottom:2px solid #e4ddd0;",
    "td": "text-align:left;padding:6px 8px;border-bottom:1px solid #eee7da;",
    "pre": "white-space:pre-wrap;word-wrap:break-word;background:#f4f1ea;padding:12px;",
    "h1": _SANS + "font-size:20px;margin:24px 0 12px;",
    "h2": _SANS + "font-size:19px;margin:24px 0 12px;",
    "h3": _SANS + "font-size:17px;margin:20px 0 8px;",
    "blockquote": "margin:0 0 16px;padding:0 0 0 16px;border-left:3px solid #e4ddd0;color:#5b636e;",
}


def _absolute(url: str) -> str:
    if url.startswith("/") and not url.startswith("//"):
        return settings.SITE_URL.rstrip("/") + url
    return url


def _link_open(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    token.attrSet("href", _absolute(str(token.attrGet("href") or "")))
    return self.renderToken(tokens, idx, options, env)


def _image(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    token.attrSet("src", _absolute(str(token.attrGet("src") or "")))
    token.attrSet("style", _STYLES["img"])
    return self.image(tokens, idx, options, env)


def _styled(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    if token.tag in _STYLES:
        token.attrSet("style", _STYLES[token.tag])
    return self.renderToken(tokens, idx, options, env)


def _code_block(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
    html = self.fence(tokens, idx, options, env)
    return html.replace("<pre>", f'<pre style="{_STYLES["pre"]}">', 1)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("js-default", {"typographer": True})
    md.enable(["replacements", "smartquotes"])
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("image", _image)
    for token_type in ("table_open", "th_open", "td_open", "heading_open", "blockquote_open"):
        md.add_render_rule(token_type, _styled)
    md.add_render_rule("fence", _code_block)
    return md


_MD = _markdown()


@dataclass(frozen=True)
class CampaignContent:
    """What a campaign mail shows, rendered once per content version."""

    subject: str
    preheader: str
    html: SafeString
    text: str


def content_render(*, subject: str, preheader: str, body: str) -> CampaignContent:
    """Render a campaign's Markdown body (HTML) and keep the source as its text part."""
    html = mark_safe(_MD.render(body))  # noqa: S308 (markdown-it escapes raw HTML: html=False)
    return CampaignContent(subject=subject, preheader=preheader, html=html, text=body.strip())
