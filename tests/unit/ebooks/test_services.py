"""The eBook cache: one render per content version, single-flight, pruning, the command.

WeasyPrint is replaced by a counting fake here (test_render.py covers the real thing);
files go to a temporary default_storage.
"""

import json
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings as conf
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

import pytest

from ebooks import render, services
from ebooks.render import EbookRenderError, RenderedPdf
from ebooks.services import (
    EbookBusyError,
    EbookGuideNotFoundError,
    ebook_file_get,
    ebook_get_or_render,
    ebook_prune,
    ebook_storage_name,
)
from ebooks.services import files as ebook_files
from guides.content import Guide, get_library, reset_library

GUIDE = "product-discovery"


@pytest.fixture(autouse=True)
def storage(settings, tmp_path: Path) -> Path:
    """default_storage in a fresh folder for each test."""
    location = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


class FakeRender:
    """Stands in for ebooks.render.ebook_render: counts calls, optionally slow or failing."""

    def __init__(self, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.delay = delay
        self.error = error
        self._lock = threading.Lock()

    def __call__(self, *, guide: Guide, **kwargs: Any) -> RenderedPdf:
        with self._lock:
            self.calls.append(guide.version)
        time.sleep(self.delay)
        if self.error:
            raise self.error
        pdf = f"%PDF-1.7 fake {guide.slug} {guide.version}".encode()
        return RenderedPdf(pdf=pdf, pages=7, seconds=0.25)


@pytest.fixture
def fake_render(monkeypatch: pytest.MonkeyPatch) -> FakeRender:
    fake = FakeRender()
    monkeypatch.setattr(render, "ebook_render", fake)
    return fake


@pytest.fixture
def content(settings, tmp_path: Path) -> Path:
    """A private copy of content/ whose files a test may change."""
    folder = tmp_path / "content"
    shutil.copytree(conf.CONTENT_DIR, folder)
    settings.CONTENT_DIR = folder
    reset_library()
    return folder


def current_version(slug: str = GUIDE) -> str:
    guide = get_library().guide(slug)
    assert guide is not None
    return guide.version


# -- get or render --------------------------------------------------------------------------


def test_first_call_renders_and_stores_pdf_and_metadata(fake_render: FakeRender):
    version = current_version()
    assert ebook_file_get(guide_slug=GUIDE) is None

    ebook = ebook_get_or_render(guide_slug=GUIDE)

    assert ebook.rendered_now is True
    assert (
        ebook.name
        == f"ebooks/{GUIDE}/{version}.pdf"
        == ebook_storage_name(guide_slug=GUIDE, version=version)
    )
    with default_storage.open(ebook.name, "rb") as fh:
        assert fh.read() == f"%PDF-1.7 fake {GUIDE} {version}".encode()
    with default_storage.open(f"ebooks/{GUIDE}/{version}.json", "rb") as fh:
        meta = json.loads(fh.read())
    assert meta["size"] == ebook.size == default_storage.size(ebook.name)
    assert meta["pages"] == 7
    assert meta["render_seconds"] == 0.25
    assert datetime.fromisoformat(meta["rendered_at"]) == ebook.rendered_at
    assert fake_render.calls == [version]


def test_second_call_serves_the_stored_file_without_rendering(fake_render: FakeRender):
    first = ebook_get_or_render(guide_slug=GUIDE)
    reset_library()  # as in another process
    second = ebook_get_or_render(guide_slug=GUIDE)

    assert len(fake_render.calls) == 1
    assert second.rendered_now is False
    assert (second.name, second.size, second.pages) == (first.name, first.size, first.pages)
    assert second.rendered_at == first.rendered_at
    assert ebook_file_get(guide_slug=GUIDE) == second


def test_a_content_change_renders_a_new_version_beside_the_old(
    fake_render: FakeRender, content: Path
):
    old = ebook_get_or_render(guide_slug=GUIDE)
    chapter = next((content / GUIDE).glob("01-*.md"))
    chapter.write_text(chapter.read_text() + "\nOne more sentence.\n")
    reset_library()

    new = ebook_get_or_render(guide_slug=GUIDE)

    assert new.version != old.version
    assert new.name != old.name
    assert new.rendered_now is True
    assert len(fake_render.calls) == 2
    assert default_storage.exists(old.name)  # kept until pruned
    assert ebook_file_get(guide_slug=GUIDE) == ebook_get_or_render(guide_slug=GUIDE)


def test_concurrent_cold_callers_share_exactly_one_render(monkeypatch: pytest.MonkeyPatch):
    slow = FakeRender(delay=0.4)
    monkeypatch.setattr(render, "ebook_render", slow)
    results: list[services.EbookFile] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(12)

    def call() -> None:
        barrier.wait()
        try:
            results.append(ebook_get_or_render(guide_slug=GUIDE))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(slow.calls) == 1
    assert len({r.name for r in results}) == 1
    assert sum(r.rendered_now for r in results) == 1


def test_a_caller_gives_up_with_busy_when_another_holds_the_lock(fake_render: FakeRender, settings):
    settings.EBOOK_RENDER_WAIT_SECONDS = 0.3
    cache.add(f"ebooks:render:{GUIDE}:{current_version()}", "someone-else", timeout=60)

    with pytest.raises(EbookBusyError):
        ebook_get_or_render(guide_slug=GUIDE)
    assert fake_render.calls == []


def test_a_waiting_caller_gets_the_file_the_lock_holder_stored(fake_render: FakeRender, settings):
    settings.EBOOK_RENDER_WAIT_SECONDS = 5
    lock_key = f"ebooks:render:{GUIDE}:{current_version()}"
    cache.add(lock_key, "other-process", timeout=60)
    guide = get_library().guide(GUIDE)
    assert guide is not None

    def other_process_finishes() -> None:
        time.sleep(0.3)
        ebook_files._render_and_store(guide)
        cache.delete(lock_key)

    thread = threading.Thread(target=other_process_finishes)
    thread.start()
    ebook = ebook_get_or_render(guide_slug=GUIDE)
    thread.join()

    assert ebook.rendered_now is False
    assert fake_render.calls == [guide.version]  # the holder's render, not ours


def test_a_pdf_without_its_metadata_is_incomplete_and_rendered_again(fake_render: FakeRender):
    name = ebook_storage_name(guide_slug=GUIDE, version=current_version())
    default_storage.save(name, ContentFile(b"%PDF-1.7 half written"))

    assert ebook_file_get(guide_slug=GUIDE) is None
    ebook = ebook_get_or_render(guide_slug=GUIDE)

    assert ebook.rendered_now is True
    assert ebook.name == name
    assert default_storage.size(name) == ebook.size
    assert files(GUIDE) == {f"{current_version()}.json", f"{current_version()}.pdf"}


def test_force_renders_again_once(fake_render: FakeRender):
    first = ebook_get_or_render(guide_slug=GUIDE)
    again = ebook_get_or_render(guide_slug=GUIDE, force=True)

    assert again.rendered_now is True
    assert again.name == first.name
    assert again.rendered_at > first.rendered_at
    assert len(fake_render.calls) == 2


def test_a_render_error_releases_the_lock_and_stores_nothing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(render, "ebook_render", FakeRender(error=EbookRenderError("refused")))

    with pytest.raises(EbookRenderError):
        ebook_get_or_render(guide_slug=GUIDE)

    assert cache.get(f"ebooks:render:{GUIDE}:{current_version()}") is None
    assert ebook_file_get(guide_slug=GUIDE) is None


def test_unknown_guides_are_refused(fake_render: FakeRender):
    with pytest.raises(EbookGuideNotFoundError):
        ebook_get_or_render(guide_slug="../../etc")
    with pytest.raises(EbookGuideNotFoundError):
        ebook_file_get(guide_slug="nope")


# -- prune ----------------------------------------------------------------------------------

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def put_version(slug: str, version: str, *, days_ago: float, meta: bool = True) -> str:
    """Store a fake rendered version as the service would, rendered `days_ago` before NOW."""
    name = ebook_storage_name(guide_slug=slug, version=version)
    default_storage.save(name, ContentFile(b"%PDF-1.7 old"))
    if meta:
        rendered_at = NOW - timedelta(days=days_ago)
        data: dict[str, Any] = {"version": version, "size": 12, "pages": 1}
        data.update(render_seconds=0.1, rendered_at=rendered_at.isoformat())
        default_storage.save(name.replace(".pdf", ".json"), ContentFile(json.dumps(data).encode()))
    return name


def files(slug: str) -> set[str]:
    return set(default_storage.listdir(f"ebooks/{slug}")[1])


def test_prune_deletes_versions_superseded_before_the_grace_period_only():
    current = current_version()
    put_version(GUIDE, "v1", days_ago=90)  # superseded by v2 80 days ago: delete
    put_version(GUIDE, "v2", days_ago=80)  # superseded by v3 10 days ago: keep
    put_version(GUIDE, current, days_ago=10)  # current: keep

    deleted = ebook_prune(keep_days=30, now=NOW)

    assert sorted(deleted) == [f"ebooks/{GUIDE}/v1.json", f"ebooks/{GUIDE}/v1.pdf"]
    assert files(GUIDE) == {"v2.json", "v2.pdf", f"{current}.json", f"{current}.pdf"}


def test_prune_never_deletes_the_current_or_the_newest_rendered_version():
    current = current_version()
    put_version(GUIDE, current, days_ago=400)
    put_version(GUIDE, "newest-not-current", days_ago=300)  # the current one is older

    assert ebook_prune(keep_days=0, now=NOW) == []
    assert files(GUIDE) == {
        f"{current}.json",
        f"{current}.pdf",
        "newest-not-current.json",
        "newest-not-current.pdf",
    }


def test_prune_handles_removed_guides_and_files_without_metadata():
    put_version("removed-guide", "old", days_ago=60)
    put_version("removed-guide", "recent", days_ago=5)
    orphan = put_version(GUIDE, "crashed", days_ago=0, meta=False)  # mtime is "now", not NOW

    deleted = ebook_prune(keep_days=30, now=NOW + timedelta(days=365))

    assert "ebooks/removed-guide/old.pdf" in deleted
    assert "ebooks/removed-guide/recent.pdf" in deleted  # a year later: past grace too
    assert orphan not in deleted  # the newest file of a live guide is kept
    assert ebook_prune(keep_days=30, now=NOW) == []


def test_prune_with_an_empty_storage_does_nothing():
    assert ebook_prune(keep_days=30) == []
    with pytest.raises(ValueError, match="zero or more"):
        ebook_prune(keep_days=-1)


# -- task and command -----------------------------------------------------------------------


def test_the_task_renders_once_and_returns_the_storage_name(fake_render: FakeRender):
    from tasks.ebooks import ebook_render, ebooks_prune

    name = ebook_render.delay(GUIDE).get()
    assert name == ebook_render.delay(GUIDE).get()
    assert name == ebook_storage_name(guide_slug=GUIDE, version=current_version())
    assert len(fake_render.calls) == 1
    assert ebooks_prune.delay().get() == 0


def test_build_ebooks_renders_every_guide_then_skips_existing(
    fake_render: FakeRender, capsys: pytest.CaptureFixture[str]
):
    call_command("build_ebooks")
    first = capsys.readouterr().out
    call_command("build_ebooks", "--prune-days", "30")
    second = capsys.readouterr().out

    guides = get_library().guides
    assert len(fake_render.calls) == len(guides)
    for guide in guides:
        name = ebook_storage_name(guide_slug=guide.slug, version=guide.version)
        assert f"{name}: rendered, 7 pages" in first
        assert f"{name}: exists, 7 pages" in second
    assert "pruned 0 file(s)" in second


def test_build_ebooks_rejects_unknown_guides(fake_render: FakeRender):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown guide"):
        call_command("build_ebooks", "nope")
