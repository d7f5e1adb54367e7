"""One open mail connection per worker thread, reused from one mail to the next.

`mailers.default` builds a new backend on every access, and an Anymail backend opened by
`send_messages` makes a new requests.Session and TCP (+TLS) connection for that one message and
closes it again. A thread of the `mail` worker sends mail after mail, so it keeps one backend
open instead: a send is then one request on a warm connection.

A connection is dropped (and the next send opens a new one) after any error, after
`MAX_SENDS` messages, after `MAX_IDLE` seconds without use (servers close idle keep-alive and
SMTP sessions), and when a mail setting changes (tests).

requests also reads the environment (proxy and CA bundle variables, ~/.netrc) on every
request, which costs about a quarter of the CPU of a send; a connection reads it once, as it
opens, unless a proxy or a netrc entry applies to the ESP's URL.
"""

import contextlib
import threading
import time
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

import requests

#: Messages sent on one connection before it is closed and reopened.
MAX_SENDS = 100
#: Seconds a connection may sit unused before it is reopened rather than reused.
MAX_IDLE = 30.0


class _ThreadConnection(threading.local):
    backend: Any = None
    sends = 0
    last_used = 0.0
    generation = -1


_current = _ThreadConnection()
_generation = 0


@receiver(setting_changed, dispatch_uid="mailings.connection.setting_changed")
def _mail_settings_changed(*, setting: str, **kwargs: Any) -> None:
    global _generation  # every thread compares its connection's generation with this one
    if setting in {"MAILERS", "ANYMAIL"} or setting.startswith(("EMAIL_", "ANYMAIL_")):
        _generation += 1


def backend_path() -> str:
    """The dotted path of the default mailer's backend (what `mailings.esp` keys on)."""
    return str(settings.MAILERS["default"]["BACKEND"])


def _open() -> Any:
    from mailings.esp import UPGRADES  # imports Anymail's Postmark backend: only when sending

    config = settings.MAILERS["default"]
    upgrade = UPGRADES.get(config["BACKEND"])
    backend = import_string(upgrade)(**config.get("OPTIONS", {})) if upgrade else mailers.default
    backend.open()
    session, url = getattr(backend, "session", None), getattr(backend, "api_url", None)
    if isinstance(session, requests.Session) and url and session.trust_env:
        _read_environment_once(session, url)
    return backend


def _read_environment_once(session: requests.Session, url: str) -> None:
    """Apply now what requests would read from the environment on each request to `url`.

    That is the CA bundle (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE), proxies and ~/.netrc. The
    CA bundle is copied onto the session; if a proxy or a netrc entry applies, the session
    keeps reading the environment per request as before.
    """
    from_environment = session.merge_environment_settings(url, {}, None, None, None)
    session.trust_env = False
    without = session.merge_environment_settings(url, {}, None, None, None)
    if from_environment["proxies"] != without["proxies"] or requests.utils.get_netrc_auth(url):
        session.trust_env = True
        return
    session.verify = from_environment["verify"]


def close() -> None:
    """Close this thread's connection, if it has one; the next send opens a new one."""
    backend, _current.backend = _current.backend, None
    if backend is not None:
        with contextlib.suppress(Exception):  # a connection we discard may already be broken
            backend.close()


def send(message: EmailMessage) -> None:
    """Send one message on this thread's connection to the default mailer, opening it if needed.

    Errors propagate unchanged (the caller classifies them); the connection is then closed so
    that a broken one is never reused.
    """
    now = time.monotonic()
    if _current.backend is not None and (
        _current.generation != _generation
        or _current.sends >= MAX_SENDS
        or now - _current.last_used > MAX_IDLE
    ):
        close()
    try:
        if _current.backend is None:
            _current.backend, _current.sends, _current.generation = _open(), 0, _generation
        _current.backend.send_messages([message])
    except BaseException:
        close()
        raise
    _current.sends += 1
    _current.last_used = time.monotonic()
