"""Purpose-salted, expiring tokens. They carry ids only: signed is not encrypted."""

from django.core import signing

SALT_PREFIX = "chapterhouse."


class TokenError(Exception):
    """The token is malformed, tampered with, or meant for another purpose."""


class TokenExpiredError(TokenError):
    """The token is genuine but older than max_age."""


def make_token(purpose: str, pk: int | str) -> str:
    return signing.dumps(pk, salt=SALT_PREFIX + purpose, compress=False)


def read_token(purpose: str, token: str, *, max_age: int | None) -> int | str:
    """Return the id inside `token`.

    Raises TokenExpiredError (the caller answers 410) or TokenError (400/404).
    """
    try:
        return signing.loads(token, salt=SALT_PREFIX + purpose, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise TokenExpiredError(str(exc)) from exc
    except signing.BadSignature as exc:
        raise TokenError(str(exc)) from exc
