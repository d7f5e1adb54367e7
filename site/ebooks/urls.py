"""Under /s/ (robots.txt disallows it), so no path can clash with a guide slug."""

from django.urls import path

from ebooks import views

app_name = "ebooks"

urlpatterns = [
    path("s/ebook/", views.request_pdf, name="request"),
    path("s/download/<str:token>/", views.download, name="download"),
]
