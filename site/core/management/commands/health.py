"""`manage.py health`: is the deployment alive? For a cron alert, a probe or an operator.

Checks the database, the broker and each queue's heartbeat (core.liveness); prints one line
each and exits 1 if any is down or stale, so `manage.py health || alert` works as is.
"""

from django.core.management.base import BaseCommand, CommandError

from core import health, liveness


class Command(BaseCommand):
    help = "Check the database, the broker and the queues' heartbeats; exit 1 on a failure."

    def handle(self, *args: object, **options: object) -> None:
        failures = []
        for name, ok in (("database", health.database_ok()), ("broker", health.broker_ok())):
            self.stdout.write(f"{name:<16} {'ok' if ok else 'DOWN'}")
            if not ok:
                failures.append(name)
        if liveness.background_expected():
            for beat in liveness.liveness_get():
                age = "never seen" if beat.age_seconds is None else f"{beat.age_seconds:.0f} s ago"
                self.stdout.write(f"{beat.name:<16} {'STALE' if beat.stale else 'ok'} ({age})")
                if beat.stale:
                    failures.append(beat.name)
        else:
            self.stdout.write("workers, beat     not expected (no REDIS_URL: tasks run in-process)")
        if failures:
            raise CommandError(f"unhealthy: {', '.join(failures)} (see docs/DEPLOY.md, Runbook)")
