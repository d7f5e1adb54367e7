"""Under /s/ (robots.txt disallows it), before the guides' catch-all slugs."""

from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("s/pv/", views.pageview, name="pageview"),
]
