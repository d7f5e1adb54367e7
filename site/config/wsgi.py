"""WSGI entry point: gunicorn --pythonpath site config.wsgi.

The content library and the Celery app with its task modules are loaded here, at import, so
that gunicorn's master (preload_app) holds them and every forked worker starts with them: a
worker replaced after `max_requests` then serves its first requests at full speed instead of
parsing every guide (≈ 50 ms) and importing Celery on its first publish (≈ 1 s).
"""

import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _preload() -> None:
    from config import jobs
    from guides.content import get_library

    jobs.preload()
    try:
        get_library()
    except Exception:  # served as errors by the pages; `check_content` in the release fails loud
        logging.getLogger(__name__).exception("content could not be loaded at start-up")


_preload()
