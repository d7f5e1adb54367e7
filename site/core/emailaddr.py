"""One normalizer for every address a visitor types (signup, "Get the PDF", imports).

`normalize_email` accepts exactly one plain address and returns it in the one form we store:
the local part as typed, the domain lower-cased and IDNA-encoded (punycode). Everything else
is refused with a message written for the visitor. It never raises anything but
ValidationError, whatever the input (see tests/unit/core/test_emailaddr.py).
"""

import hashlib
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.db import connection

import disposable_email_domains
import idna

#: RFC 5321: the whole address (a forward-path without its angle brackets) fits 254 octets.
MAX_LENGTH = 254
#: RFC 5321 4.5.3.1.1.
MAX_LOCAL_LENGTH = 64
#: RFC 1035; idna enforces it too, this is checked after encoding.
MAX_LABEL_LENGTH = 63

#: RFC 5322 dot-atom characters (no quoted local parts: nobody types them, mail systems choke).
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
#: The TLD of a public domain: letters only, or an IDNA A-label.
#: A plain letters-digits-hyphen label that IDNA maps to itself, lower-cased: no "--" in the
#: third and fourth places (reserved, and "xn--" labels need decoding), no hyphen at the ends.
_PLAIN_LABEL = re.compile(r"(?!..--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")
#: Special-use and private-use names (RFC 2606, RFC 6761, RFC 6762, RFC 7686, ICANN 2024):
#: nobody reads mail there.
_NON_PUBLIC_TLDS = frozenset(
    {"localhost", "local", "localdomain", "test", "invalid", "example", "internal", "onion",
     "arpa", "lan", "home", "corp", "intranet", "private", "alt"}
)  # fmt: skip

#: Characters that separate several addresses or introduce a display name.
_LIST_SEPARATORS = frozenset(",;")
_NAME_MARKERS = frozenset('<>"()')

#: Messages shown to the visitor.
MSG_EMPTY = "Please enter your email address."
MSG_TOO_LONG = "That address is too long: an email address has at most 254 characters."
MSG_CONTROL = "The address contains a line break or another control character."
MSG_INVISIBLE = "The address contains invisible characters. Please type it again."
MSG_ONE = "Please enter one email address only."
MSG_NAME = "Please enter only the address itself (like ann@example.com), without a name."
MSG_SPACE = "An email address can’t contain spaces."
MSG_FORMAT = "Please enter an email address like ann@example.com."
MSG_LOCAL_UNICODE = "Please use an address with only ASCII letters before the @."
MSG_LOCAL_LONG = "The part before the @ is too long (at most 64 characters)."
MSG_LOCAL_BAD = "The part before the @ contains characters an email address can’t have."
MSG_DOMAIN_BAD = "The part after the @ isn’t a valid domain name."
MSG_DOMAIN_PRIVATE = "The part after the @ must be a public domain, like example.com."
MSG_DISPOSABLE = "Please use a permanent address: we can’t send to disposable inboxes."


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def _check_invisible(value: str) -> None:
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":  # CR, LF, NUL, TAB, DEL and the other C0/C1 controls
            raise _refuse(MSG_CONTROL, "control")
        if category in {"Cf", "Co", "Cs", "Cn"}:  # zero-width, bidi marks, BOM; unassigned
            raise _refuse(MSG_INVISIBLE, "invisible")


def _check_local(local: str) -> None:
    if not local:
        raise _refuse(MSG_FORMAT, "format")
    if not local.isascii():
        raise _refuse(MSG_LOCAL_UNICODE, "local_unicode")
    if len(local) > MAX_LOCAL_LENGTH:
        raise _refuse(MSG_LOCAL_LONG, "local_length")
    if not all(_ATOM.fullmatch(atom) for atom in local.split(".")):
        raise _refuse(MSG_LOCAL_BAD, "local_chars")


def _encode_domain(domain: str) -> str:
    if domain.startswith("["):  # an address literal: a@[192.0.2.1]
        raise _refuse(MSG_DOMAIN_PRIVATE, "domain_private")
    if not domain or domain.endswith(".") or domain.startswith("."):
        raise _refuse(MSG_DOMAIN_BAD, "domain")
    if all(_PLAIN_LABEL.fullmatch(label) for label in domain.split(".")):
        return _public_domain(domain.lower())  # what IDNA would return, without its cost
    try:
        # IDNA 2008 with the UTS #46 mapping (non-transitional: ß stays ß, as browsers do).
        # It lower-cases, maps full-width forms, and checks label lengths and hyphens.
        ascii_domain = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise _refuse(MSG_DOMAIN_BAD, "domain") from None
    return _public_domain(ascii_domain.lower())


def _public_domain(ascii_domain: str) -> str:
    labels = ascii_domain.split(".")
    too_long = len(ascii_domain) > 253  # RFC 1035, as IDNA checks it
    if too_long or any(not label or len(label) > MAX_LABEL_LENGTH for label in labels):
        raise _refuse(MSG_DOMAIN_BAD, "domain")
    if len(labels) < 2 or not _TLD.fullmatch(labels[-1]) or labels[-1] in _NON_PUBLIC_TLDS:
        raise _refuse(MSG_DOMAIN_PRIVATE, "domain_private")
    return ascii_domain


def is_disposable_domain(domain: str) -> bool:
    """True when `domain` (ASCII, lower-case) or a parent of it is a known throwaway inbox."""
    labels = domain.split(".")
    blocked = disposable_email_domains.blocklist
    return any(".".join(labels[i:]) in blocked for i in range(len(labels) - 1))


def normalize_email(raw: str) -> str:
    """Return the one stored form of the single address in `raw`, or raise ValidationError.

    Surrounding spaces are trimmed; the local part is kept exactly as typed (it may be
    case-sensitive); the domain is lower-cased and IDNA-encoded. The error message is safe
    to show next to the field.
    """
    if not isinstance(raw, str):
        raise _refuse(MSG_FORMAT, "format")
    if len(raw) > 4 * MAX_LENGTH:  # bound the work before looking at every character
        raise _refuse(MSG_TOO_LONG, "length")
    value = raw.strip(" ")
    if not value:
        raise _refuse(MSG_EMPTY, "empty")
    _check_invisible(value)
    if any(char in _LIST_SEPARATORS for char in value) or value.count("@") > 1:
        if any(char in _NAME_MARKERS for char in value):
            raise _refuse(MSG_NAME, "display_name")
        raise _refuse(MSG_ONE, "several")
    if any(char in _NAME_MARKERS for char in value):
        raise _refuse(MSG_NAME, "display_name")
    if any(unicodedata.category(char) in {"Zs", "Zl", "Zp"} for char in value):
        raise _refuse(MSG_SPACE, "space")
    local, at, domain = value.rpartition("@")
    if not at:
        raise _refuse(MSG_FORMAT, "format")
    _check_local(local)
    ascii_domain = _encode_domain(domain)
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_LENGTH:
        raise _refuse(MSG_TOO_LONG, "length")
    if is_disposable_domain(ascii_domain):
        raise _refuse(MSG_DISPOSABLE, "disposable")
    return address


def inbox_of(email: str) -> tuple[str, str]:
    """(local part without any +tag, domain), lower-cased: the inbox an address delivers to.

    'Ada+news@Example.org' and 'ada@example.org' share the inbox ('ada', 'example.org').
    """
    local, _, domain = email.rpartition("@")
    return local.split("+", 1)[0].lower(), domain.lower()


def inbox_hash(email: str) -> str:
    """sha256 of the inbox (inbox_of): equal for every +tag and letter-case variant.

    Stored on contacts.Contact (indexed), so per-inbox limits are one index lookup however
    many addresses were seen recently.
    """
    return hashlib.sha256("@".join(inbox_of(email)).encode()).hexdigest()


def inbox_lock(email: str) -> None:
    """Serialise, until the end of the current transaction, work on one inbox (all +tag
    variants), so per-inbox limits hold under concurrent requests from many addresses.

    PostgreSQL: a transaction-scoped advisory lock. SQLite serialises writers already.
    """
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(bytes.fromhex(inbox_hash(email))[:8], "big")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key - (1 << 63)])
