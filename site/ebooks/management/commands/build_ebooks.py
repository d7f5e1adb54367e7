import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ebooks.render import EbookRenderError
from ebooks.services import EbookBusyError, ebook_get_or_render, ebook_prune
from guides.content import ContentError, get_library


class Command(BaseCommand):
    help = (
        "Render every guide's eBook for its current content version (existing files are "
        "kept), then optionally prune versions superseded more than N days ago."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--prune-days",
            type=int,
            metavar="N",
            help="afterwards, delete old versions superseded more than N days ago",
        )
        parser.add_argument(
            "--force", action="store_true", help="render again even if the file exists"
        )
        parser.add_argument("guides", nargs="*", metavar="GUIDE", help="only these guide slugs")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            library = get_library()
        except ContentError as exc:
            raise CommandError(str(exc)) from exc
        slugs = options["guides"] or [guide.slug for guide in library.guides]
        unknown = sorted(set(slugs) - set(library.by_slug))
        if unknown:
            raise CommandError(f"unknown guide(s): {', '.join(unknown)}")
        for slug in slugs:
            started = time.perf_counter()
            try:
                ebook = ebook_get_or_render(guide_slug=slug, force=options["force"])
            except (EbookRenderError, EbookBusyError) as exc:
                raise CommandError(f"{slug}: {exc}") from exc
            seconds = time.perf_counter() - started
            state = "rendered" if ebook.rendered_now else "exists"
            self.stdout.write(
                f"{ebook.name}: {state}, {ebook.pages} pages, {ebook.size / 1024:.0f} KiB, "
                f"{seconds:.2f} s (render {ebook.render_seconds:.2f} s)"
            )
        if options["prune_days"] is not None:
            deleted = ebook_prune(keep_days=options["prune_days"])
            for name in deleted:
                self.stdout.write(f"pruned {name}")
            self.stdout.write(f"pruned {len(deleted)} file(s)")
        self.stdout.write(self.style.SUCCESS("eBooks OK"))
