"""Pre-flight checks: what must be true before a campaign goes out, and what looks wrong.

Blockers stop "Send now" (and a scheduled start): an empty audience, no postal address in
the footer (CAN-SPAM and most ESPs' terms require one), no sender. Warnings are shown but do
not stop it: links to our own site that would answer 404, a subject longer than inboxes show.

Links are checked in-process against the project's URLconf and the guides' content index
(`django.urls.resolve`, `guides.selectors`), never over HTTP: the check is the same on a
laptop, in CI and behind a firewall, and it costs no request to ourselves.
"""

from dataclasses import dataclass
from email.utils import parseaddr
from enum import StrEnum
from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import Http404
from django.urls import Resolver404, resolve

from campaigns.models import Campaign
from campaigns.rendering import content_render
from campaigns.selectors import campaign_audience_count
from campaigns.services import CampaignStateError
from guides import selectors as guides

#: Most inboxes cut a subject off around here (desktop Gmail ~70-80, phones ~40).
SUBJECT_WARN_LENGTH = 80
#: Statuses of a campaign that has not started: the ones "Send now" is checked for.
NOT_STARTED = frozenset({"draft", "scheduled"})
#: Own links checked per campaign (a body with more is unusual; the rest are not checked).
MAX_LINKS_CHECKED = 200


class Level(StrEnum):
    BLOCKER = "blocker"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    level: Level
    #: Stable identifier for tests and templates ("empty_audience", "broken_link", ...).
    code: str
    message: str


@dataclass(frozen=True)
class Preflight:
    recipients: int
    findings: tuple[Finding, ...]

    @property
    def blockers(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == Level.BLOCKER)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == Level.WARNING)

    @property
    def can_send(self) -> bool:
        return not self.blockers


class PreflightBlockedError(CampaignStateError):
    """The campaign has a pre-flight blocker; the message lists them (safe to show).

    A CampaignStateError, so beat's due scan skips such a campaign instead of failing.
    """


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"href", "src"} and value:
                self.urls.append(value)


def _own_paths(html: str) -> list[str]:
    """Paths of the links and images in `html` that point to SITE_URL, in order, once each."""
    parser = _Links()
    parser.feed(html)
    site = urlsplit(settings.SITE_URL)
    prefix = site.path.rstrip("/")
    paths: dict[str, None] = {}
    for url in parser.urls:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or parts.netloc.lower() != site.netloc.lower():
            continue
        path = parts.path or "/"
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :] or "/"
        paths[path] = None
    return list(paths)[:MAX_LINKS_CHECKED]


def path_found(path: str) -> bool:
    """Would GET `path` on our site answer (not 404)? Decided by the URLconf and content index.

    A path without its trailing slash counts when the slashed one exists (APPEND_SLASH
    redirects to it). Guide and chapter URLs are looked up in the content index, static
    files with the staticfiles finders; any other resolved view is taken as found.
    """
    if path.startswith(settings.STATIC_URL):
        return finders.find(path.removeprefix(settings.STATIC_URL)) is not None
    try:
        match = resolve(path)
    except Resolver404:
        if settings.APPEND_SLASH and not path.endswith("/"):
            return path_found(path + "/")
        return False
    try:
        if match.view_name == "guides:guide":
            guides.guide_get(slug=match.kwargs["guide_slug"])
        elif match.view_name == "guides:chapter":
            guides.chapter_get(
                guide_slug=match.kwargs["guide_slug"], chapter_slug=match.kwargs["chapter_slug"]
            )
    except Http404:
        return False
    return True


def _sender_ok(sender: str) -> bool:
    _, address = parseaddr(sender or "")
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def campaign_preflight(*, campaign: Campaign) -> Preflight:
    """Every check for `campaign` as it is now (one COUNT query for the audience)."""
    findings: list[Finding] = []
    recipients = campaign_audience_count(campaign=campaign)
    if recipients == 0:
        findings.append(
            Finding(
                Level.BLOCKER,
                "empty_audience",
                f"Nobody to send to: {campaign.audience_label} has no confirmed, "
                "unsuppressed subscriber.",
            )
        )
    if not settings.MAIL_POSTAL_ADDRESS.strip():
        findings.append(
            Finding(
                Level.BLOCKER,
                "no_postal_address",
                "No postal address for the mail footer: set MAIL_POSTAL_ADDRESS "
                "(anti-spam law and the ESP's terms require one).",
            )
        )
    if not _sender_ok(settings.DEFAULT_FROM_EMAIL):
        findings.append(
            Finding(Level.BLOCKER, "no_sender", "No valid sender address: set DEFAULT_FROM_EMAIL.")
        )
    if len(campaign.subject) > SUBJECT_WARN_LENGTH:
        findings.append(
            Finding(
                Level.WARNING,
                "long_subject",
                f"The subject has {len(campaign.subject)} characters; inboxes cut "
                f"it off after about {SUBJECT_WARN_LENGTH}.",
            )
        )
    content = content_render(
        subject=campaign.subject, preheader=campaign.preheader, body=campaign.body
    )
    for path in _own_paths(content.html):
        if not path_found(path):
            findings.append(
                Finding(
                    Level.WARNING,
                    "broken_link",
                    f"{settings.SITE_URL}{path} is not a page of this site (it would answer 404).",
                )
            )
    return Preflight(recipients=recipients, findings=tuple(findings))


def campaign_preflight_assert(*, campaign: Campaign) -> None:
    """Raise PreflightBlockedError when `campaign` may not start; call it under the row lock.

    Only a campaign that has not started (draft, scheduled) is checked: a resumed fan-out was
    checked at its start, and any other status is campaign_send's own refusal.
    """
    if campaign.status not in NOT_STARTED:
        return
    blockers = campaign_preflight(campaign=campaign).blockers
    if blockers:
        raise PreflightBlockedError(
            "Not sent: " + " ".join(finding.message for finding in blockers)
        )
