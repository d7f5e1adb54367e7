"""Heartbeats of the background processes: recorded by a task, reported by ops tools."""

import os
from datetime import timedelta

from django.core.management import CommandError, call_command
from django.utils import timezone

import pytest

from core import liveness
from core.models import Heartbeat

pytestmark = pytest.mark.django_db


def beat_all(age_seconds: float) -> None:
    seen = timezone.now() - timedelta(seconds=age_seconds)
    for queue in liveness.QUEUES:
        Heartbeat.objects.update_or_create(name=f"worker:{queue}", defaults={"seen_at": seen})


def test_the_heartbeat_task_upserts_one_row_per_queue():
    from tasks.core import heartbeat

    heartbeat.delay("mail")
    first = Heartbeat.objects.get(name="worker:mail").seen_at
    heartbeat.delay("mail")
    assert Heartbeat.objects.filter(name="worker:mail").count() == 1
    assert Heartbeat.objects.get(name="worker:mail").seen_at >= first


@pytest.mark.integration  # the broker line pings the real Redis
def test_health_passes_with_fresh_heartbeats_and_fails_naming_the_stale_queue(settings, capsys):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    settings.HEARTBEAT_STALE_AFTER = 300
    beat_all(age_seconds=30)
    call_command("health")
    assert "worker:mail      ok (30 s ago)" in capsys.readouterr().out

    Heartbeat.objects.filter(name="worker:mail").update(
        seen_at=timezone.now() - timedelta(minutes=10)
    )
    with pytest.raises(CommandError, match="unhealthy: worker:mail"):
        call_command("health")
    Heartbeat.objects.filter(name="worker:pdf").delete()
    with pytest.raises(CommandError, match="worker:mail, worker:pdf"):
        call_command("health")
    assert "worker:pdf       STALE (never seen)" in capsys.readouterr().out


def test_health_fails_when_the_broker_is_down(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    beat_all(age_seconds=1)
    with pytest.raises(CommandError, match="unhealthy: broker"):
        call_command("health")


def test_readyz_reports_heartbeats_without_turning_unready(client, settings):
    settings.HEARTBEAT_STALE_AFTER = 300
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # expected, not reached: readyz says 503
    beat_all(age_seconds=600)
    body = client.get("/readyz").json()
    assert body["heartbeats"]["worker:default"] == {"age_seconds": 600, "stale": True}


def test_the_dashboard_warns_when_a_queue_stopped_answering(admin_client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # expected, not reached: readyz says 503
    beat_all(age_seconds=10)
    assert "Background work has stopped" not in admin_client.get("/admin/").content.decode()
    Heartbeat.objects.filter(name="worker:pdf").update(
        seen_at=timezone.now() - timedelta(minutes=20)
    )
    html = admin_client.get("/admin/").content.decode()
    assert "Background work has stopped" in html
    assert "The pdf queue’s worker last answered 20\xa0minutes ago" in html


def test_nothing_is_expected_without_a_broker(admin_client, settings, capsys):
    settings.REDIS_URL = None
    call_command("health")  # no heartbeats at all, and that is fine: tasks run in-process
    assert "not expected" in capsys.readouterr().out
    assert "Background work has stopped" not in admin_client.get("/admin/").content.decode()
