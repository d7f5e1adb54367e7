"""The "Get the PDF" flow on real PostgreSQL, Redis, a Celery worker (WeasyPrint) and SMTP.

A request on a cold cache: the worker renders once, and the mail with the PDF attached and
the download link reaches aiosmtpd. Twenty concurrent cold requests: exactly one render
(counted in the worker's log and in the storage), twenty mails.
"""

import io
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import connection

import pytest
from pypdf import PdfReader

from contacts.services import Actor, Source
from ebooks.models import EbookRequest
from ebooks.services import EbookRequestOutcome, ebook_request_create, ebook_storage_name
from guides.content import get_library
from mailings.models import OutboundMail

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GUIDE = "product-discovery"


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.fixture
def shared_storage(settings, tmp_path: Path) -> Path:
    """One media folder for this process and the worker (VAR_DIR/media in both)."""
    var = tmp_path / "var"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(var / "media")},
        },
    }
    return var


@pytest.fixture
def pdf_worker(worker_env, smtp_server, shared_storage, tmp_path):
    """A worker on every queue (4 processes racing for the render lock), sending by SMTP."""
    from tasks.celery import app
    from tests.fixtures.services import WorkerProcess

    _, port = smtp_server
    worker_env.update(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        VAR_DIR=str(shared_storage),
    )
    app.control.purge()
    worker = WorkerProcess(worker_env, tmp_path / "worker.log", concurrency=4).start()
    yield worker
    worker.stop()


def request_pdf(email: str) -> int:
    try:
        result = ebook_request_create(
            email=email,
            guide_slug=GUIDE,
            source=Source(guide_slug=GUIDE, chapter_number=1, form_name="pdf"),
            actor=Actor(ip="203.0.113.7"),
        )
    finally:
        connection.close()  # a thread's own connection
    assert result.outcome == EbookRequestOutcome.DELIVERY_QUEUED
    assert result.request_id is not None
    return result.request_id


def renders_logged(worker) -> int:
    return worker.log.read_text().count("ebook rendered: ")


def attachment_of(message) -> bytes:
    [part] = list(message.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    assert part.get_filename() == "The Product Discovery Field Guide.pdf"
    return part.get_content()


def test_a_cold_request_is_rendered_once_by_the_worker_and_mailed_with_the_pdf(
    real_broker, smtp_server, pdf_worker, shared_storage
):
    mailbox, _ = smtp_server
    request_id = request_pdf("reader@example.com")

    [message] = mailbox.wait_for(1, timeout=90)
    assert message["To"] == "reader@example.com"
    assert message["Subject"] == "Your eBook: The Product Discovery Field Guide"
    assert "List-Unsubscribe" not in message  # a one-off, transactional mail
    pdf = attachment_of(message)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 5
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert re.search(r"http://testserver/s/download/[\w:-]+/", text)
    assert message.get_body(preferencelist=("html",)) is not None

    version = get_library().guide(GUIDE).version
    stored = shared_storage / "media" / ebook_storage_name(guide_slug=GUIDE, version=version)
    assert stored.read_bytes() == pdf
    req = EbookRequest.objects.select_related("mail").get(pk=request_id)
    assert req.version == version
    assert wait_for(lambda: OutboundMail.objects.get(pk=req.mail_id).status == "sent")
    assert renders_logged(pdf_worker) == 1


def test_twenty_concurrent_cold_requests_render_exactly_once(
    real_broker, smtp_server, pdf_worker, shared_storage
):
    mailbox, _ = smtp_server
    addresses = [f"reader{i}@example.com" for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(request_pdf, addresses))
    assert len(set(ids)) == 20

    messages = mailbox.wait_for(20, timeout=120)
    assert sorted(m["To"] for m in messages) == sorted(addresses)
    attachments = {attachment_of(m) for m in messages}
    assert len(attachments) == 1  # every mail carries the one rendered file

    assert renders_logged(pdf_worker) == 1
    folder = shared_storage / "media" / "ebooks" / GUIDE
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".pdf"]
    delivered = EbookRequest.objects.filter(delivered_at__isnull=False)
    assert wait_for(lambda: delivered.count() == 20)
    assert OutboundMail.objects.filter(template="ebook_delivery").count() == 20
    time.sleep(1)  # no duplicate arrives late
    assert len(mailbox.messages) == 20
