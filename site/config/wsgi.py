"""WSGI entry point: gunicorn --pythonpath site config.wsgi.

The content library is loaded here, at import, so that gunicorn's master (preload_app) holds it
and every forked worker starts with it: a worker replaced after `max_requests` then serves its
first request at full speed instead of parsing every guide first (≈ 50 ms).
"""

import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _preload_content() -> None:
    from guides.content import get_library

    try:
        get_library()
    except Exception:  # served as errors by the pages; `check_content` in the release fails loud
        logging.getLogger(__name__).exception("content could not be loaded at start-up")


_preload_content()
