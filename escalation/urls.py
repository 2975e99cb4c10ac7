from django.urls import path

from . import views

app_name = "escalation"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("<slug:table>.csv", views.dashboard_table, name="table"),
]
