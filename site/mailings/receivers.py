"""Anymail's tracking signal, the one library signal mailings listens to."""

from typing import Any

from django.dispatch import receiver

from anymail.signals import AnymailTrackingEvent, tracking

from mailings.services import delivery_event_record


@receiver(tracking, dispatch_uid="mailings.tracking")
def on_tracking(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    """Store the event. Never raises on an unknown event: a 400 makes the ESP retry forever."""
    delivery_event_record(event=event, esp_name=esp_name)
