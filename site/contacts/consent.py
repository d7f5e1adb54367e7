"""Consent wording, versioned in code so the ledger can prove what a visitor was shown.

Never edit a published text: add a new version and point CURRENT_VERSION at it. Cached pages
may still show an older version for a while; the form posts the version it rendered, and the
ledger stores that version with the SHA-256 of its exact text (GDPR Art. 7(1)).
"""

import hashlib

#: version -> the exact label text next to the consent checkbox.
CONSENT_TEXTS: dict[str, str] = {
    "2026-11": (
        "Yes, email me the newsletter. I can unsubscribe with one click at any time, "
        "and my address is never shared."
    ),
}

#: The version new pages render.
CURRENT_VERSION = "2026-11"


def consent_text(version: str) -> str:
    """The exact text of `version`; KeyError for an unknown version."""
    return CONSENT_TEXTS[version]


def consent_hash(version: str) -> str:
    """SHA-256 (hex) of the UTF-8 bytes of the exact text of `version`."""
    return hashlib.sha256(consent_text(version).encode()).hexdigest()
