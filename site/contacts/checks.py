"""System checks for settings that only make sense together."""

from typing import Any

from django.conf import settings
from django.core import checks

from contacts import consent


@checks.register()
def check_contacts_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    if consent.CURRENT_VERSION not in consent.CONSENT_TEXTS:
        messages.append(
            checks.Error("contacts.consent.CURRENT_VERSION has no text", id="contacts.E001")
        )
    # The signup box's signed timestamp is rendered into cached pages: a page may be served
    # for PAGE_CACHE_SECONDS (server) + PAGE_MAX_AGE (CDN/browser) after it was rendered.
    oldest_page = settings.PAGE_CACHE_SECONDS + settings.PAGE_MAX_AGE
    if oldest_page >= settings.PUBLIC_FORM_MAX_AGE:
        messages.append(
            checks.Warning(
                "PUBLIC_FORM_MAX_AGE is shorter than a cached page can live "
                f"({oldest_page} s): forms on old cached pages would be dropped quietly.",
                hint="Raise PUBLIC_FORM_MAX_AGE or lower PAGE_CACHE_SECONDS / PAGE_MAX_AGE.",
                id="contacts.W001",
            )
        )
    return messages
