"""Under /s/ (robots.txt disallows it), so no path can clash with a guide slug."""

from django.urls import path

from contacts import views

app_name = "contacts"

urlpatterns = [
    path("s/subscribe/", views.subscribe, name="subscribe"),
    path("s/confirm/<str:token>/", views.confirm, name="confirm"),
    path("s/confirm/<str:token>/resend/", views.confirm_resend, name="confirm_resend"),
    path("s/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
