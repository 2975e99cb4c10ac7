from django.urls import path

from . import views

app_name = "calibration"
urlpatterns = [
    path("", views.page, name="page"),
    path("preferences/", views.preferences_page, name="preferences"),
]
