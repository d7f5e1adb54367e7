"""Purpose-salted, expiring tokens. They carry ids only: signed is not encrypted."""

from django.core import signing

SALT_PREFIX = "chapterhouse."


class TokenError(Exception):
    """The token is malformed, tampered with, or meant for another purpose."""


class TokenExpired(TokenError):
    """The token is genuine but older than max_age."""


def make_token(purpose: str, pk: int | str) -> str:
    return signing.dumps(pk, salt=SALT_PREFIX + purpose, compress=False)


def read_token(purpose: str, token: str, *, max_age: int | None) -> int | str:
    """Return the id inside `token`; raise TokenExpired or TokenError (the caller maps to 410/400)."""
    try:
        return signing.loads(token, salt=SALT_PREFIX + purpose, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise TokenExpired(str(exc)) from exc
    except signing.BadSignature as exc:
        raise TokenError(str(exc)) from exc
