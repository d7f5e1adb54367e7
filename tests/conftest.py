"""Shared fixtures. Builders live in tests/fixtures/ and are registered here."""

import os

import pytest

from guides.content import reset_library

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.mailings",
    "tests.fixtures.smtp",
    "tests.fixtures.faults",
    "tests.fixtures.processes",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without PostgreSQL/Redis (see tests/run.py), integration tests are skipped, loudly."""
    missing = os.environ.get("CHAPTERHOUSE_MISSING_SERVICES")
    if not missing and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        missing = "PostgreSQL (DATABASE_URL unset: run the suite through tests/run.py)"
    if not missing and not os.environ.get("REDIS_URL"):
        missing = "Redis (REDIS_URL unset: run the suite through tests/run.py)"
    if not missing:
        return
    marker = pytest.mark.skip(reason=f"missing services: {missing}")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(marker)


@pytest.fixture(autouse=True)
def _fresh_state(settings):
    """Each test starts with an empty cache, a freshly loaded content index, and Anymail's
    test backend (Django's test runner would otherwise swap in its locmem backend)."""
    from django.core.cache import cache

    settings.MAILERS = {"default": {"BACKEND": "anymail.backends.test.EmailBackend"}}
    cache.clear()
    reset_library()
    yield
    reset_library()
    # Eager tasks run from several threads at once leave Celery's process-global "inside a
    # task" flag set, and every later `.get()` fails: name the test that did it.
    from celery._state import _set_task_join_will_block, task_join_will_block

    if task_join_will_block():
        _set_task_join_will_block(False)
        pytest.fail("eager Celery tasks ran in several threads: run them in the test thread")
