"""The guarantees, proven with the Procfile's real processes (tests/fixtures/processes.py).

web (gunicorn), worker, worker_mail, worker_pdf and beat run as the Procfile says, on a Redis
of their own; visitors are HTTP clients posting the signup form; mail lands in aiosmtpd. Faults
are the operator's: a pool process SIGKILLed, Redis killed and restarted empty. Recovery is
whatever the processes do by themselves (reconnects, redelivery, beat's sweepers): the test
never calls a sweeper.
"""

import json
import os
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.fixtures.processes import Deployment
from tests.fixtures.services import wait_for
from tests.unit.contacts.conftest import signup_data

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("deployment"),
]

SCHEDULING_ERRORS = ("SchedulingError", "Couldn't apply scheduled task")


def post_signup(deploy: Deployment, address: str) -> int:
    """POST the chapter page's signup form as a browser would (same-origin, after reading)."""
    body = urllib.parse.urlencode(signup_data(address)).encode()
    url, headers = f"{deploy.origin}/s/subscribe/", {"Origin": deploy.origin}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 (our origin)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # no answer: not accepted


def recipients(mailbox) -> Counter[str]:  # type: ignore[no-untyped-def]
    return Counter(str(message["To"]) for message in list(mailbox.messages))


def missing_report(addresses: set[str]) -> str:
    """Where the work for addresses that got no mail stands (form row, mail row)."""
    from core.models import FormSubmission
    from mailings.models import OutboundMail

    forms = list(FormSubmission.objects.filter(email__in=addresses).values("email", "attempts"))
    mails = list(
        OutboundMail.objects.filter(to_email__in=addresses).values(
            "to_email", "status", "attempts", "enqueued_at", "last_error"
        )
    )
    return f"missing {sorted(addresses)}\nwaiting forms {forms}\nmails {mails}\n"


def assert_healthy(deploy: Deployment) -> None:
    assert deploy.exited() == [], deploy.logs()
    beat_log = deploy.processes["beat"].text()
    assert not any(error in beat_log for error in SCHEDULING_ERRORS), beat_log[-3000:]


def test_a_broker_restart_stops_no_process_and_forms_and_mail_still_flow(deployment, smtp_server):
    """Redis dies while the mail worker has sends in flight (unacked, late-acked tasks) and
    a free thread waits in BRPOP: the moment kombu 5.7's channel close used to kill the
    worker ("Unrecoverable error: AttributeError ... 'hostname'", see tasks/celery.py)."""
    mailbox, _port = smtp_server
    assert post_signup(deployment, "before@example.com") == 200
    assert wait_for(lambda: recipients(mailbox)["before@example.com"], timeout=60)

    mailbox.delay = 3.0  # the SMTP server holds each message: sends stay in flight
    mailbox.receiving.clear()
    for i in range(3):
        assert post_signup(deployment, f"in-flight-{i}@example.com") == 200
    assert mailbox.receiving.wait(timeout=60)
    deployment.redis.restart_empty(down_for=5)
    mailbox.delay = 0.0
    # Posted right after the restart: its publish may meet a worker still reconnecting.
    assert post_signup(deployment, "after@example.com") == 200
    assert wait_for(lambda: recipients(mailbox)["after@example.com"], timeout=150), (
        deployment.logs()
    )
    # What was in flight is recovered too (a message lost with Redis: by beat's sweeper).
    everyone = {"before@example.com", "after@example.com"} | {
        f"in-flight-{i}@example.com" for i in range(3)
    }
    assert wait_for(lambda: set(recipients(mailbox)) >= everyone, timeout=150), (
        missing_report(everyone - set(recipients(mailbox))) + deployment.logs()
    )
    assert max(recipients(mailbox).values()) == 1
    assert_healthy(deployment)
    for name in ("worker", "worker_mail", "worker_pdf"):
        assert "Connection to broker lost" in deployment.processes[name].text(), name
        assert "Unrecoverable error" not in deployment.processes[name].text(), name


def test_soak_every_accepted_signup_is_confirmed_once_after_a_pool_kill_and_an_empty_redis(
    deployment, smtp_server
):
    """SOAK_SIGNUPS signups from SOAK_CLIENTS clients; a third of the way in, a default-worker
    pool process is SIGKILLed; two thirds in, Redis is killed and restarted empty (down
    SOAK_REDIS_DOWN seconds) while the clients go on posting. bench/soak runs it longer, and
    once with SOAK_FAULTS=0 as its baseline."""
    from core.models import Heartbeat

    mailbox, _port = smtp_server
    total = int(os.environ.get("SOAK_SIGNUPS", "240"))
    clients = int(os.environ.get("SOAK_CLIENTS", "6"))
    down_for = float(os.environ.get("SOAK_REDIS_DOWN", "3"))
    faults = os.environ.get("SOAK_FAULTS", "1") == "1"  # bench/soak's baseline turns them off
    addresses = [f"soak-{i}@example.com" for i in range(total)]
    statuses: dict[str, int] = {}
    done = Counter[str]()
    lock = threading.Lock()

    def client(mine: list[str]) -> None:
        for address in mine:
            status = post_signup(deployment, address)
            with lock:
                statuses[address] = status
                done["posted"] += 1

    started = time.monotonic()
    threads = [
        threading.Thread(target=client, args=(addresses[i::clients],)) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    if faults:
        assert wait_for(lambda: done["posted"] >= total // 3, timeout=120)
        children = deployment.processes["worker"].pool_children()
        assert children, "the prefork worker has no pool process"
        os.kill(children[0], 9)
        assert wait_for(lambda: done["posted"] >= 2 * total // 3, timeout=120)
        deployment.redis.restart_empty(down_for=down_for)
    for thread in threads:
        thread.join(timeout=300)
    posted_in = time.monotonic() - started

    accepted = sorted(a for a, status in statuses.items() if status == 200)
    assert len(statuses) == total
    assert accepted == sorted(addresses), Counter(statuses.values())
    assert wait_for(lambda: set(recipients(mailbox)) >= set(accepted), timeout=300), (
        f"{len(set(accepted) - set(recipients(mailbox)))} addresses got no mail\n"
        + deployment.logs()
    )
    last_mail_after = time.monotonic() - started
    time.sleep(3)  # a duplicate would arrive now
    counts = recipients(mailbox)
    assert {a: n for a, n in counts.items() if n != 1} == {}
    assert set(counts) == set(accepted)
    assert_healthy(deployment)
    if last_mail_after > 65:  # beat has ticked at least once since start: every queue answered
        assert set(Heartbeat.objects.values_list("name", flat=True)) == {
            "worker:default",
            "worker:mail",
            "worker:pdf",
        }

    figures = {
        "signups": total,
        "clients": clients,
        "faults": faults,
        "redis_down_seconds": down_for if faults else 0,
        "posting_seconds": round(posted_in, 1),
        "last_mail_after_seconds": round(last_mail_after, 1),
        "mails": sum(counts.values()),
        "duplicates": sum(n - 1 for n in counts.values()),
    }
    print("soak:", json.dumps(figures))  # noqa: T201 - the figures are the soak's report
    if report := os.environ.get("SOAK_REPORT"):
        Path(report).write_text(json.dumps(figures, indent=2))
