"""Friendly error pages. They render without a request context so they cannot fail twice."""

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseServerError
from django.template import loader


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    body = loader.render_to_string("404.html", {"request_path": request.path}, request=request)
    return HttpResponseNotFound(body)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: context processors or the database may be what failed.
    return HttpResponseServerError(loader.render_to_string("500.html"))


def error_page(request: HttpRequest, *, status: int, title: str, message: str) -> HttpResponse:
    """A plain page for 400/403/410/429 answers, with the status set."""
    body = loader.render_to_string(
        "error.html", {"title": title, "message": message, "status": status}, request=request
    )
    response = HttpResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response
