import pytest


@pytest.mark.django_db
def test_healthz_and_readyz_when_all_is_up(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "broker": True}
    assert "no-cache" in ready["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_down_while_healthz_stays_200(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] is False
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_database_is_down(client, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise connection.Database.OperationalError("database is down")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] is False


def test_mask_email_hides_the_local_part():
    from core.logging import mask_email

    masked = mask_email("signup from ada.lovelace@example.org ok")
    assert masked == "signup from a***@example.org ok"


def test_tokens_are_purpose_bound_and_expire():
    from core.signing import TokenError, TokenExpiredError, make_token, read_token

    token = make_token("confirm", 42)
    assert read_token("confirm", token, max_age=60) == 42
    with pytest.raises(TokenError):
        read_token("unsubscribe", token, max_age=60)
    with pytest.raises(TokenError):
        read_token("confirm", token[:-2] + "xx", max_age=60)
    with pytest.raises(TokenExpiredError):
        read_token("confirm", token, max_age=-1)
