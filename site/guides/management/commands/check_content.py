from django.core.management.base import BaseCommand, CommandError

from guides.content import ContentError, load_library


class Command(BaseCommand):
    help = "Validate every guide under content/; exit 1 with path:line on the first error."

    def handle(self, *args: object, **options: object) -> None:
        try:
            library = load_library()
        except ContentError as exc:
            raise CommandError(str(exc)) from exc
        for guide in library.guides:
            words = guide.word_count
            self.stdout.write(f"{guide.slug}: {len(guide.chapters)} chapters, {words} words")
        self.stdout.write(self.style.SUCCESS(f"content OK (version {library.version})"))
