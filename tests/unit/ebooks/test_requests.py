"""The "Get the PDF" form, one answer for every address, the per-address limit, the
separate newsletter opt-in, delivery (attachment or link), the task and the sweeper."""

from datetime import timedelta

from django.core import mail
from django.urls import reverse
from django.utils import timezone

import pytest

from config import jobs
from contacts import consent
from contacts.models import ConsentEvent, Contact, Subscription
from contacts.services import Actor, Source, contact_subscribe
from ebooks import services
from ebooks.models import EbookRequest
from ebooks.services import EbookRequestOutcome, delivery, ebook_request_create
from mailings.models import OutboundMail
from mailings.services import suppression_add
from tests.fixtures.publicforms import answers_of, trap_cases
from tests.unit.ebooks.conftest import CHAPTER_PAGE, GUIDE, ORIGIN, pdf_data

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST = reverse("ebooks:request")
ACTOR = Actor(ip="203.0.113.7", user_agent="pytest", form_name="pdf")
SOURCE = Source(guide_slug=GUIDE, chapter_number=2, form_name="pdf")


def create(email: str = "ann@example.com", **kwargs) -> services.EbookRequestResult:
    kwargs.setdefault("guide_slug", GUIDE)
    kwargs.setdefault("source", SOURCE)
    kwargs.setdefault("actor", ACTOR)
    return ebook_request_create(email=email, **kwargs)


def delivery_mails() -> list[OutboundMail]:
    return list(OutboundMail.objects.filter(template="ebook_delivery").order_by("pk"))


# -- The box on the pages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "box", "hidden"),
    [
        ("/product-discovery/customer-interviews/", "ebook-pdf", f'name="guide" value="{GUIDE}"'),
        ("/product-discovery/", "ebook-guide-pdf", f'name="guide" value="{GUIDE}"'),
        ("/", "ebook-home-pdf", '<select name="guide"'),
    ],
)  # fmt: skip
def test_the_box_is_on_chapter_guide_and_home_pages(client, path, box, hidden):
    response = client.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="{box}"' in html
    assert 'action="/s/ebook/"' in html
    assert hidden in html
    assert f'id="{box}-newsletter"' in html
    assert f'id="{box}-newsletter" value="on" checked' not in html  # never pre-ticked
    assert consent.consent_text(consent.CURRENT_VERSION) in html.replace("&#x27;", "'")
    assert 'name="website"' in html
    assert 'name="stamp" value="' in html
    assert not response.cookies  # the page stays cacheable


def test_the_chapter_box_records_its_chapter(client):
    html = client.get("/product-discovery/customer-interviews/").content.decode()
    start = html.index('id="ebook-pdf"')
    assert 'name="chapter" value="2"' in html[start:]
    assert 'name="source_form" value="pdf"' in html[start:]


def test_the_standalone_page_preselects_a_guide_and_ignores_unknown_ones(client):
    html = client.get(REQUEST, {"guide": GUIDE}).content.decode()
    assert 'name="guide" value="product-discovery"' in html
    assert "The Product Discovery Field Guide" in html
    html = client.get(REQUEST, {"guide": "../../etc/passwd"}).content.decode()
    assert '<select name="guide"' in html


# -- One answer for everything ------------------------------------------------------------------


def test_every_address_state_and_every_trap_gets_the_byte_identical_answer(
    client, settings, pdf_ready
):
    settings.PUBLIC_FORM_RATE_LIMIT = 100
    create("known@example.com", guide_slug="modern-product-management")  # a contact already
    create("throttled@example.com")  # got this guide today
    sub_source = Source(guide_slug=GUIDE, form_name="inline")
    for address in ("pending@example.com", "confirmed@example.com"):
        contact_subscribe(
            email=address, consent_version=consent.CURRENT_VERSION, source=sub_source, actor=ACTOR
        )
    confirmed = Subscription.objects.get(contact__email="confirmed@example.com")
    Subscription.objects.filter(pk=confirmed.pk).update(status="confirmed")
    suppression_add(email="suppressed@example.com", reason="complained")
    cases = {
        "new": pdf_data("new@example.com"),
        "known": pdf_data("known@example.com"),
        "pending subscriber": pdf_data("pending@example.com"),
        "confirmed subscriber": pdf_data("confirmed@example.com"),
        "throttled": pdf_data("throttled@example.com"),
        "throttled, other case": pdf_data("THROTTLED@example.com"),
        "suppressed": pdf_data("suppressed@example.com"),
        **trap_cases(pdf_data, form="ebook", other_form="newsletter"),
    }
    before = {m.pk for m in delivery_mails()}
    answers = answers_of(client, REQUEST, cases, ORIGIN)
    first = answers["new"]
    assert first[0] == 200
    assert b"Check your inbox" in first[1]
    assert {name: answer == first for name, answer in answers.items()} == dict.fromkeys(cases, True)
    # ... while what happened behind the answer differs.
    sent = [m.to_email for m in delivery_mails() if m.pk not in before]
    assert sorted(sent) == [
        "confirmed@example.com", "known@example.com", "new@example.com", "pending@example.com",
    ]  # fmt: skip
    assert not Contact.objects.filter(email__startswith="bot").exists()
    assert not Contact.objects.filter(email="suppressed@example.com").exists()


def test_the_answer_names_the_ebook_and_mentions_the_newsletter_only_when_ticked(client, pdf_ready):
    html = client.post(REQUEST, pdf_data(), headers=ORIGIN).content.decode()
    assert "The Product Discovery Field Guide" in html
    assert "separate email asks you to confirm" not in html
    html = client.post(
        REQUEST, pdf_data("bob@example.com", newsletter="on"), headers=ORIGIN
    ).content.decode()
    assert "separate email asks you to confirm" in html


# -- Abuse guards (shared with signup through core.publicforms) ---------------------------------


def test_a_cross_site_post_is_refused(client, pdf_ready):
    response = client.post(REQUEST, pdf_data(), headers={"Origin": "https://evil.example.net"})
    assert response.status_code == 403
    assert not EbookRequest.objects.exists()


def test_the_per_ip_rate_limit_answers_429(client, settings, pdf_ready):
    settings.PUBLIC_FORM_RATE_LIMIT = 2
    for i in range(2):
        assert (
            client.post(REQUEST, pdf_data(f"r{i}@example.com"), headers=ORIGIN).status_code == 200
        )
    response = client.post(REQUEST, pdf_data("r9@example.com"), headers=ORIGIN)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert EbookRequest.objects.count() == 2


def test_get_needs_no_protection_and_other_methods_are_refused(client):
    assert client.get(REQUEST).status_code == 200
    assert client.put(REQUEST, headers=ORIGIN).status_code == 405


# -- Bad input: form errors, never a 500 --------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": ""}, "Please enter your email address."),
        ({"email": "ann@localhost"}, "public domain"),
        ({"email": "ann@example.com, bob@example.com"}, "one email address only"),
        ({"email": "ann@example.com\r\nBcc: x@example.com"}, "control character"),
        ({"email": "x" * 5000}, "too long"),
        ({"email": "ann@mailinator.com"}, "disposable"),
        ({"guide": ""}, "Please choose the eBook"),
        ({"guide": None}, "Please choose the eBook"),
        ({"guide": "no-such-guide"}, "out of date"),
        ({"guide": "x" * 500}, "out of date"),
        ({"newsletter": "on", "consent_version": "1999-01"}, "out of date"),
        ({"newsletter": "on", "consent_version": None}, "out of date"),
    ],
)
def test_bad_input_is_a_form_error(client, overrides, message):
    response = client.post(REQUEST, pdf_data(**overrides), headers=ORIGIN)
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'").replace("’", "'")
    assert message.replace("’", "'") in html
    assert 'aria-invalid="true"' in html
    assert 'class="form-error"' in html
    assert not Contact.objects.exists()
    assert not EbookRequest.objects.exists()


def test_the_error_page_keeps_the_values_and_the_original_stamp(client, pdf_ready):
    data = pdf_data("ann@localhost", newsletter="on")
    html = client.post(REQUEST, data, headers=ORIGIN).content.decode()
    assert 'value="ann@localhost"' in html
    assert f'name="stamp" value="{data["stamp"]}"' in html
    assert 'name="guide" value="product-discovery"' in html
    assert 'name="chapter" value="2"' in html
    assert 'value="on" checked' in html  # the visitor's own tick survives the error
    fixed = {**data, "email": "ann@example.com"}
    assert client.post(REQUEST, fixed, headers=ORIGIN).status_code == 200
    assert EbookRequest.objects.filter(contact__email="ann@example.com").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"chapter": "abc"},
        {"chapter": "99"},
        {"chapter": "-1"},
        {"chapter": "9" * 50},
        {"source_form": "<script>"},
        {"page": "https://evil.example.net/?utm_source=spoof"},
        {"referrer": "javascript:alert(1)"},
        {"newsletter": "garbage", "consent_version": "bogus"},
        {"consent_version": "bogus"},  # not ticked: the version does not matter
    ],
)
def test_bad_hints_never_refuse_a_request(client, overrides, pdf_ready):
    response = client.post(REQUEST, pdf_data(**overrides), headers=ORIGIN)
    assert response.status_code in {200, 400}  # never a 500
    if "newsletter" not in overrides:
        assert response.status_code == 200
        req = EbookRequest.objects.get()
        assert req.utm_source == ""
        assert req.chapter_number in {None, 2}
        assert req.form_name in {"", "pdf"}
        assert req.referrer == ""


# -- What gets stored ---------------------------------------------------------------------------


def test_a_request_stores_its_attribution(client, pdf_ready, run_on_commit):
    with run_on_commit():
        response = client.post(
            REQUEST,
            pdf_data(
                "Reader@example.org",
                page=CHAPTER_PAGE + "?utm_source=news&utm_campaign=spring",
                referrer="https://search.example.net/?q=secret#frag",
            ),
            headers={**ORIGIN, "User-Agent": "Mozilla/5.0 test"},
            REMOTE_ADDR="198.51.100.9",
        )
    assert response.status_code == 200
    req = EbookRequest.objects.select_related("contact").get()
    assert req.contact.email == "Reader@example.org"
    assert (req.guide_slug, req.chapter_number, req.form_name) == (GUIDE, 2, "pdf")
    assert req.page_path == "/product-discovery/customer-interviews/"
    assert (req.utm_source, req.utm_campaign) == ("news", "spring")
    assert req.referrer == "https://search.example.net/"  # no query: it may hold PII
    assert req.ip == "198.51.100.9"
    assert req.newsletter_opt_in is False
    assert req.delivered_at is not None
    assert req.version == pdf_ready.version


def test_without_script_the_page_and_utm_come_from_the_referer(client, pdf_ready):
    headers = {"Referer": CHAPTER_PAGE + "?utm_medium=social"}
    assert client.post(REQUEST, pdf_data(), headers=headers).status_code == 200
    req = EbookRequest.objects.get()
    assert (req.page_path, req.utm_medium) == ("/product-discovery/customer-interviews/", "social")


# -- The newsletter is a separate consent -------------------------------------------------------


def test_a_pdf_request_alone_is_never_a_subscription(client, pdf_ready, run_on_commit):
    with run_on_commit():
        client.post(REQUEST, pdf_data(), headers=ORIGIN)
    assert EbookRequest.objects.count() == 1
    assert not Subscription.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert [m.template for m in OutboundMail.objects.all()] == ["ebook_delivery"]


def test_the_opt_in_starts_the_double_opt_in_with_its_consent_event(
    client, pdf_ready, run_on_commit
):
    with run_on_commit():
        response = client.post(
            REQUEST,
            pdf_data(newsletter="on"),
            headers={**ORIGIN, "Referer": CHAPTER_PAGE},
            REMOTE_ADDR="198.51.100.9",
        )
    assert response.status_code == 200
    sub = Subscription.objects.select_related("contact").get()
    assert sub.status == Subscription.Status.PENDING  # nothing more until they confirm
    assert (sub.contact.email, sub.guide_slug, sub.chapter_number, sub.form_name) == (
        "ann@example.com", GUIDE, 2, "pdf",
    )  # fmt: skip
    event = ConsentEvent.objects.get()
    assert event.event == ConsentEvent.Event.SIGNUP
    assert event.consent_version == consent.CURRENT_VERSION
    assert event.consent_text_sha256 == consent.consent_hash(consent.CURRENT_VERSION)
    assert (event.ip, event.form_name) == ("198.51.100.9", "pdf")
    assert EbookRequest.objects.get().newsletter_opt_in is True
    templates = sorted(OutboundMail.objects.values_list("template", flat=True))
    assert templates == ["confirm_subscription", "ebook_delivery"]
    assert Contact.objects.count() == 1  # one contact for both


def test_the_opt_in_still_counts_when_the_pdf_is_throttled(pdf_ready):
    create()
    result = create(newsletter_opt_in=True, consent_version=consent.CURRENT_VERSION)
    assert result.outcome == EbookRequestOutcome.THROTTLED
    assert result.newsletter == "confirmation_sent"
    assert Subscription.objects.count() == 1


def test_an_opt_in_without_the_version_shown_is_a_caller_error(pdf_ready):
    with pytest.raises(ValueError, match="consent version"):
        create(newsletter_opt_in=True)
    assert not EbookRequest.objects.exists()


# -- Per-address limit --------------------------------------------------------------------------


def test_one_delivery_per_guide_and_address_per_window(pdf_ready, settings, run_on_commit):
    settings.EBOOK_DELIVERY_LIMIT_HOURS = 24
    with run_on_commit():
        assert create().outcome == EbookRequestOutcome.MAIL_QUEUED
        assert create().outcome == EbookRequestOutcome.THROTTLED
        assert create("ANN@EXAMPLE.COM").outcome == EbookRequestOutcome.THROTTLED
        other = create(guide_slug="modern-product-management")
    assert other.outcome == EbookRequestOutcome.DELIVERY_QUEUED  # another guide: its own limit
    assert EbookRequest.objects.filter(guide_slug=GUIDE).count() == 1  # nothing new recorded
    assert len(mail.outbox) == 2
    # A day later the same address may ask again.
    EbookRequest.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    assert create().outcome == EbookRequestOutcome.MAIL_QUEUED
    assert EbookRequest.objects.filter(guide_slug=GUIDE).count() == 2


def test_the_window_is_configurable(pdf_ready, settings):
    settings.EBOOK_DELIVERY_LIMIT_HOURS = 1
    create()
    EbookRequest.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert create().outcome == EbookRequestOutcome.MAIL_QUEUED


def test_a_suppressed_address_gets_nothing_and_nothing_is_stored(pdf_ready):
    suppression_add(email="gone@example.com", reason="bounced")
    assert create("gone@example.com").outcome == EbookRequestOutcome.SUPPRESSED
    assert not Contact.objects.exists()
    assert not OutboundMail.objects.exists()


# -- Delivery: attachment or link ---------------------------------------------------------------


def test_a_small_pdf_is_attached_and_linked(pdf_ready, settings, run_on_commit):
    settings.EBOOK_ATTACH_MAX_BYTES = pdf_ready.size
    with run_on_commit():
        result = create()
    assert result.outcome == EbookRequestOutcome.MAIL_QUEUED
    [row] = delivery_mails()
    assert row.category == OutboundMail.Category.TRANSACTIONAL
    assert row.unsubscribe_url == ""  # a one-off transactional mail
    assert row.attachment_name == pdf_ready.name
    assert row.attachment_filename == "The Product Discovery Field Guide.pdf"
    [message] = mail.outbox
    assert message.to == ["ann@example.com"]
    assert message.subject == "Your eBook: The Product Discovery Field Guide"
    [(filename, content, mimetype)] = message.attachments
    assert filename == "The Product Discovery Field Guide.pdf"
    assert mimetype == "application/pdf"
    with services.ebook_file_open(ebook=pdf_ready) as fh:
        assert content == fh.read()
    token = services.ebook_download_token(request_id=result.request_id)
    link = f"http://testserver/s/download/{token}/"
    html = message.alternatives[0][0]
    assert link in message.body
    assert link in html
    assert "ann" not in link  # no personal data in the URL
    assert "attached to this email" in message.body
    assert "“Get the PDF” form" in message.body  # why they got it
    assert "doesn’t subscribe you" in message.body


def test_a_big_pdf_is_only_linked(pdf_ready, settings, run_on_commit):
    settings.EBOOK_ATTACH_MAX_BYTES = pdf_ready.size - 1
    with run_on_commit():
        create()
    [row] = delivery_mails()
    assert (row.attachment_name, row.attachment_filename) == ("", "")
    [message] = mail.outbox
    assert message.attachments == []
    assert "/s/download/" in message.body
    assert "attached" not in message.body


@pytest.mark.django_db  # on-commit callbacks held back by the test's transaction
def test_a_cold_cache_delivers_after_the_render_task(fake_render, run_on_commit, monkeypatch):
    published: list[int] = []
    real = jobs.enqueue_ebook_deliver
    monkeypatch.setattr(jobs, "enqueue_ebook_deliver", lambda pk: published.append(pk) or real(pk))
    with run_on_commit():
        result = create()
        # Committed first, the task only after: nothing is delivered inside the transaction.
        assert result.outcome == EbookRequestOutcome.DELIVERY_QUEUED
        assert published == []
        assert not OutboundMail.objects.exists()
    assert published == [result.request_id]
    assert len(fake_render.calls) == 1
    req = EbookRequest.objects.get()
    assert req.delivered_at is not None
    assert req.mail is not None
    assert req.version == fake_render.calls[0]
    assert (req.enqueue_count, req.enqueued_at is not None) == (1, True)
    [message] = mail.outbox
    assert len(message.attachments) == 1


def test_delivery_is_idempotent(pdf_ready, run_on_commit):
    from tasks.ebooks import ebook_deliver

    with run_on_commit():
        result = create()
    assert ebook_deliver(result.request_id) == "already_delivered"
    assert ebook_deliver(result.request_id) == "already_delivered"
    assert ebook_deliver(10**9) == "missing"
    assert len(delivery_mails()) == 1


def test_the_delivery_task_retries_while_another_process_renders(fake_render, monkeypatch):
    from tasks.ebooks import ebook_deliver

    def busy(**kwargs):
        raise services.EbookBusyError("rendering elsewhere")

    monkeypatch.setattr(delivery, "ebook_get_or_render", busy)  # the name it calls
    assert ebook_deliver.autoretry_for == (services.EbookBusyError,)
    with pytest.raises(services.EbookBusyError):
        services.ebook_request_deliver(request_id=create().request_id)
    assert not OutboundMail.objects.exists()


# -- The sweeper --------------------------------------------------------------------------------


@pytest.mark.django_db  # on-commit callbacks held back by the test's transaction
def test_the_sweeper_republishes_lost_deliveries_a_bounded_number_of_times(
    fake_render, settings, monkeypatch
):
    settings.EBOOK_REQUEUE_AFTER = 300
    settings.EBOOK_REQUEUE_MAX = 3
    published: list[int] = []
    monkeypatch.setattr(jobs, "enqueue_ebook_deliver", lambda pk: published.append(pk) or True)
    lost = create().request_id  # its on-commit publish never ran (as with the broker down)
    assert services.ebook_requests_requeue_stuck() == 0  # too recent: its task may be running
    old = timezone.now() - timedelta(seconds=301)
    EbookRequest.objects.update(enqueued_at=old)
    assert services.ebook_requests_requeue_stuck() == 1
    assert published == [lost]
    assert services.ebook_requests_requeue_stuck() == 0  # the clock restarted
    EbookRequest.objects.update(enqueued_at=old)
    assert services.ebook_requests_requeue_stuck() == 1
    assert EbookRequest.objects.get().enqueue_count == 3
    EbookRequest.objects.update(enqueued_at=old)
    assert services.ebook_requests_requeue_stuck() == 0  # given up: the admin may retry
    assert services.ebook_requests_redeliver(request_ids=[lost]) == 1
    assert EbookRequest.objects.get().enqueue_count == 1


def test_the_sweeper_leaves_delivered_requests_and_failed_publishes_alone(
    pdf_ready, settings, monkeypatch
):
    settings.EBOOK_REQUEUE_AFTER = 0
    create()  # delivered at once: a warm cache
    assert services.ebook_requests_requeue_stuck() == 0
    EbookRequest.objects.update(delivered_at=None, mail=None, enqueued_at=None)
    monkeypatch.setattr(jobs, "enqueue_ebook_deliver", lambda pk: False)  # broker down
    assert services.ebook_requests_requeue_stuck() == 0
    assert EbookRequest.objects.get().enqueue_count == 0  # not counted: try again next sweep


def test_the_sweeper_task_and_schedule():
    from tasks.celery import app
    from tasks.ebooks import ebook_requests_requeue_stuck
    from tasks.schedule import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["ebooks-requeue-stuck"]
    assert entry["task"] == ebook_requests_requeue_stuck.name
    # The beat entry's queue wins over the `ebooks.*` -> pdf route: a sweep never waits
    # behind renders. Deliveries themselves do go to the pdf queue (they may render).
    router = app.amqp.router
    assert router.route(dict(entry["options"]), entry["task"])["queue"].name == "default"
    assert router.route({}, "ebooks.ebook_deliver")["queue"].name == "pdf"
    assert ebook_requests_requeue_stuck() == 0


def test_the_admin_rebuild_publishes_a_forced_render(monkeypatch, ebook_storage):
    published: list[tuple] = []
    monkeypatch.setattr(
        jobs, "_publish", lambda path, *args: published.append((path, args)) or True
    )
    assert services.ebook_rebuild(guide_slug=GUIDE) is True
    assert published == [("tasks.ebooks.ebook_render", (GUIDE, True))]
    with pytest.raises(services.EbookGuideNotFoundError):
        services.ebook_rebuild(guide_slug="nope")


def test_ebook_filenames_are_safe():
    assert services.ebook_filename('A/B: "C"?') == "A B C.pdf"
    assert services.ebook_filename("\r\n") == "eBook.pdf"
    assert services.ebook_filename("x" * 400) == "x" * 150 + ".pdf"
