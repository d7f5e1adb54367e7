"""The floor for bench/pages: a plain WSGI app serving the page's bytes under the same gunicorn
config (no Django). What Python can do here at all, before any framework work."""

import os
from pathlib import Path


def application(environ: dict, start_response) -> list[bytes]:  # type: ignore[no-untyped-def]
    body = Path(os.environ["BENCH_PAGE_FILE"]).read_bytes()
    start_response(
        "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]
