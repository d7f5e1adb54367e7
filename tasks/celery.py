"""The Celery app: `celery -A tasks worker` / `celery -A tasks beat`.

Tasks are thin: they take JSON ids, call one service from site/, and define the retry policy.
"""

import os
import sys
from pathlib import Path

from celery import Celery

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT / "site") not in sys.path:
    sys.path.insert(0, str(_ROOT / "site"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TASK_MODULES = ["tasks.core", "tasks.mailings", "tasks.ebooks", "tasks.contacts", "tasks.campaigns"]

app = Celery("chapterhouse", include=TASK_MODULES)
app.config_from_object("django.conf:settings", namespace="CELERY")


def _load_schedule() -> None:
    from tasks.schedule import BEAT_SCHEDULE

    app.conf.beat_schedule = BEAT_SCHEDULE


_load_schedule()
