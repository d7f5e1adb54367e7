"""Anymail's tracking signal, the one library signal mailings listens to."""

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.dispatch import receiver

from anymail.signals import AnymailTrackingEvent, tracking

from mailings.services import delivery_event_record

logger = logging.getLogger(__name__)


@receiver(tracking, dispatch_uid="mailings.tracking")
def on_tracking(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    """Store the event (one insert, replays are no-ops) and apply it.

    Never raises because of the event itself: an error reaching Anymail becomes a 4xx/5xx and
    the ESP retries the same payload forever. The one exception is an unreachable database,
    where a 500 and the ESP's retry later is exactly what we want.
    """
    try:
        delivery_event_record(event=event, esp_name=esp_name)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        # No address or payload in the log line: only what identifies the event.
        logger.exception(
            "could not record %s tracking event %s (%s)",
            esp_name,
            getattr(event, "event_id", None),
            getattr(event, "event_type", None),
        )
