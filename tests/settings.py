"""Test settings: the real settings module, with test-only overrides.

DATABASE_URL / REDIS_URL come from the environment (tests/run.py points them at real
PostgreSQL and Redis servers); without them, SQLite and local memory are used.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 32)
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("VAR_DIR", str(Path(tempfile.gettempdir()) / "chapterhouse-test-var"))

from config.settings import *  # noqa: F403

ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], Path(__file__).parent / "data" / "templates"]  # noqa: F405
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test process uses Anymail's test backend (tests/conftest.py); worker processes started by
# integration tests get EMAIL_BACKEND/EMAIL_PORT for the test SMTP server from their environment.
# Unit tests run tasks eagerly unless a test starts a real worker (tests/integration).
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CHAPTERHOUSE_TEST_EAGER", "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = CELERY_TASK_ALWAYS_EAGER
