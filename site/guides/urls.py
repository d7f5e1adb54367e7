from django.urls import path

from guides import views

app_name = "guides"

urlpatterns = [
    path("", views.home, name="home"),
    path("<slug:guide_slug>/", views.guide_detail, name="guide"),
    path("<slug:guide_slug>/<slug:chapter_slug>/", views.chapter_detail, name="chapter"),
]
