"""The signed download link: valid, tampered, expired, pruned version, headers, logging."""

import json
import logging
import time
from unittest import mock

from django.core.files.storage import default_storage
from django.urls import reverse

import pytest

from config import jobs
from contacts.services import Actor, Source
from core.signing import make_token
from ebooks import services
from ebooks.models import EbookDownload, EbookRequest
from ebooks.services import ebook_download_token, ebook_request_create
from tests.unit.ebooks.conftest import GUIDE

pytestmark = pytest.mark.django_db


def make_request(email: str = "ann@example.com") -> EbookRequest:
    result = ebook_request_create(
        email=email,
        guide_slug=GUIDE,
        source=Source(guide_slug=GUIDE, chapter_number=3, form_name="pdf"),
        actor=Actor(ip="203.0.113.7"),
    )
    return EbookRequest.objects.get(pk=result.request_id)


def link(request_id: int) -> str:
    return reverse("ebooks:download", args=[ebook_download_token(request_id=request_id)])


def old_token(request_id: int, *, age: float) -> str:
    with mock.patch("django.core.signing.time.time", return_value=time.time() - age):
        return make_token(services.DOWNLOAD_PURPOSE, request_id)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_valid_link_streams_the_mailed_pdf_with_safe_headers(client, pdf_ready):
    req = make_request()
    response = client.get(link(req.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        'attachment; filename="The Product Discovery Field Guide.pdf"'
    )
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Robots-Tag"] == "noindex"
    assert int(response["Content-Length"]) == pdf_ready.size
    assert not response.cookies
    with default_storage.open(pdf_ready.name, "rb") as fh:
        assert body(response) == fh.read()
    download = EbookDownload.objects.get()
    assert (download.request_id, download.version) == (req.pk, pdf_ready.version)


def test_each_get_is_logged_and_a_head_is_not(client, pdf_ready):
    req = make_request()
    url = link(req.pk)
    assert client.head(url).status_code == 200
    assert not EbookDownload.objects.exists()
    body(client.get(url))
    body(client.get(url))
    assert EbookDownload.objects.filter(request=req).count() == 2


def test_other_methods_are_refused(client, pdf_ready):
    url = link(make_request().pk)
    assert client.post(url).status_code == 405
    assert not EbookDownload.objects.exists()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: "x" + token,
        lambda token: token.split(":")[0],
        lambda token: "not-a-token",
    ],
    ids=["signature", "payload", "unsigned", "garbage"],
)
def test_a_tampered_link_answers_a_friendly_404(client, pdf_ready, mangle, caplog):
    req = make_request()
    token = mangle(ebook_download_token(request_id=req.pk))
    with caplog.at_level(logging.INFO):
        response = client.get(reverse("ebooks:download", args=[token]))
    assert response.status_code == 404
    html = response.content.decode()
    assert "This download link doesn’t work" in html
    assert response["Cache-Control"] == "no-store"
    assert token not in caplog.text  # the path, which holds the token, is never logged
    assert not EbookDownload.objects.exists()


def test_tokens_of_other_purposes_and_bad_payloads_are_refused(client, pdf_ready):
    req = make_request()
    for token in (
        make_token("contacts.confirm", req.pk),
        make_token(services.DOWNLOAD_PURPOSE, "1.2"),
        make_token(services.DOWNLOAD_PURPOSE, True),
        make_token(services.DOWNLOAD_PURPOSE, -1),
        make_token(services.DOWNLOAD_PURPOSE, 10**9),  # a request that does not exist (erased)
    ):
        response = client.get(reverse("ebooks:download", args=[token]))
        assert response.status_code == 404, token


def test_an_expired_link_answers_410_with_a_way_to_get_a_new_copy(client, settings, pdf_ready):
    settings.EBOOK_LINK_MAX_AGE = 30 * 86400
    req = make_request()
    fresh = old_token(req.pk, age=29 * 86400)
    assert client.get(reverse("ebooks:download", args=[fresh])).status_code == 200
    expired = old_token(req.pk, age=31 * 86400)
    response = client.get(reverse("ebooks:download", args=[expired]))
    assert response.status_code == 410
    html = response.content.decode()
    assert "This download link has expired" in html
    assert 'href="/product-discovery/"' in html  # the guide page, with its "Get the PDF" box
    assert 'href="/s/ebook/?guide=product-discovery"' in html
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert EbookDownload.objects.count() == 1


def test_an_expired_link_of_an_erased_request_still_gets_the_410_page(client, pdf_ready):
    req = make_request()
    expired = old_token(req.pk, age=10**8)
    EbookRequest.objects.filter(pk=req.pk).delete()  # gone with its contact (erasure)
    response = client.get(reverse("ebooks:download", args=[expired]))
    assert response.status_code == 410
    assert 'href="/"' in response.content.decode()


def put_old_version(version: str, content: bytes) -> None:
    """A complete file of an older content version (as left by a previous render)."""
    from django.core.files.base import ContentFile

    name = services.ebook_storage_name(guide_slug=GUIDE, version=version)
    default_storage.save(name, ContentFile(content))
    meta = {
        "version": version, "size": len(content), "pages": 3, "render_seconds": 0.1,
        "rendered_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    default_storage.save(name.removesuffix(".pdf") + ".json", ContentFile(json.dumps(meta)))


def test_the_link_serves_the_mailed_version_while_it_exists(client, pdf_ready):
    req = make_request()
    put_old_version("0ld0ld0ld0ld0ld0", b"%PDF-1.7 old edition")
    EbookRequest.objects.filter(pk=req.pk).update(version="0ld0ld0ld0ld0ld0")
    response = client.get(link(req.pk))
    assert body(response) == b"%PDF-1.7 old edition"
    assert EbookDownload.objects.get().version == "0ld0ld0ld0ld0ld0"


def test_a_pruned_version_falls_back_to_the_current_one(client, pdf_ready):
    req = make_request()
    EbookRequest.objects.filter(pk=req.pk).update(version="prunedprunedprun")
    response = client.get(link(req.pk))
    assert response.status_code == 200
    with default_storage.open(pdf_ready.name, "rb") as fh:
        assert body(response) == fh.read()
    assert EbookDownload.objects.get().version == pdf_ready.version


def test_with_no_file_at_all_the_render_is_queued_and_the_visitor_asked_to_wait(
    client, pdf_ready, monkeypatch
):
    req = make_request()
    EbookRequest.objects.filter(pk=req.pk).update(version="prunedprunedprun")
    default_storage.delete(pdf_ready.name.removesuffix(".pdf") + ".json")  # current one gone too
    queued: list[str] = []
    monkeypatch.setattr(jobs, "enqueue_ebook_render", lambda slug: queued.append(slug) or True)
    response = client.get(link(req.pk))
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert "being prepared" in response.content.decode()
    assert queued == [GUIDE]
    assert not EbookDownload.objects.exists()


def test_a_withdrawn_guide_answers_410(client, pdf_ready):
    req = make_request()
    EbookRequest.objects.filter(pk=req.pk).update(
        guide_slug="withdrawn", version="gonegonegonegone"
    )
    response = client.get(link(req.pk))
    assert response.status_code == 410
    assert "no longer available" in response.content.decode()


def test_a_version_name_from_the_database_never_escapes_the_storage_folder():
    assert services.ebook_file_find(guide_slug=GUIDE, version="../../secret_key") is None
    assert services.ebook_file_find(guide_slug=GUIDE, version="") is None
