"""Builders for "Get the PDF" tests: a private storage, a counting fake renderer, form data.

Nothing here is autouse: test_services.py and test_render.py have fixtures of their own.
"""

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from contacts import consent
from core.publicforms import form_stamp_make
from ebooks import render, services
from ebooks.render import RenderedPdf
from ebooks.services import EbookFile
from guides.content import Guide

ORIGIN = {"Origin": "http://testserver"}
GUIDE = "product-discovery"
CHAPTER_PAGE = "http://testserver/product-discovery/customer-interviews/"


@pytest.fixture
def ebook_storage(settings, tmp_path: Path) -> Path:
    """default_storage in a fresh folder for the test."""
    location = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


class CountingRender:
    """Stands in for ebooks.render.ebook_render: a small fake PDF of `size` bytes."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, *, guide: Guide, **kwargs: Any) -> RenderedPdf:
        with self._lock:
            self.calls.append(guide.version)
        head = f"%PDF-1.7 fake {guide.slug} {guide.version}\n".encode()
        return RenderedPdf(pdf=head.ljust(self.size, b"%"), pages=9, seconds=0.5)


@pytest.fixture
def fake_render(monkeypatch: pytest.MonkeyPatch, ebook_storage: Path) -> CountingRender:
    fake = CountingRender()
    monkeypatch.setattr(render, "ebook_render", fake)
    return fake


@pytest.fixture
def pdf_ready(fake_render: CountingRender) -> EbookFile:
    """The current version of GUIDE rendered (by the fake) and stored: a warm cache."""
    ebook = services.ebook_get_or_render(guide_slug=GUIDE)
    fake_render.calls.clear()
    return ebook


def stamp(age: float = 10.0, form: str = "ebook") -> str:
    """A signed form timestamp issued `age` seconds ago."""
    return form_stamp_make(form, now=time.time() - age)


def pdf_data(email: str = "ann@example.com", **overrides: Any) -> dict[str, str]:
    """A "Get the PDF" POST as the chapter page's box sends it (newsletter unticked)."""
    data = {
        "email": email,
        "guide": GUIDE,
        "chapter": "2",
        "source_form": "pdf",
        "consent_version": consent.CURRENT_VERSION,
        "stamp": stamp(),
        "website": "",
        "page": "",
        "referrer": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (eager tasks: delivery, mail send) of everything in the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
