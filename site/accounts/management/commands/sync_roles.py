from typing import Any

from django.core.management.base import BaseCommand

from accounts.roles import roles_sync


class Command(BaseCommand):
    help = (
        "Create or update the staff groups (accounts.roles.ROLES) with exactly their "
        "permissions. Idempotent: run it after every migrate."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for result in roles_sync():
            verb = "created" if result.created else "up to date"
            if not result.created and (result.added or result.removed):
                verb = "updated"
            self.stdout.write(self.style.SUCCESS(f"Group {result.name!r}: {verb}"))
            for label in result.added:
                self.stdout.write(f"  + {label}")
            for label in result.removed:
                self.stdout.write(f"  - {label}")
            for label in result.missing:
                self.stderr.write(
                    self.style.WARNING(f"  ! {label} does not exist (skipped; app not migrated?)")
                )
