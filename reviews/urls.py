from django.urls import path

from . import views

app_name = "reviews"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("next", views.take_next, name="next"),
    path("<uuid:action_id>/", views.detail, name="detail"),
    path("<uuid:action_id>/claim", views.claim, name="claim"),
    path("<uuid:action_id>/release", views.release, name="release"),
    path("<uuid:action_id>/take-over", views.take_over, name="take_over"),
    path("<uuid:action_id>/reassign", views.reassign, name="reassign"),
    path("<uuid:action_id>/decide", views.decide, name="decide"),
    path("<uuid:action_id>/diff", views.diff, name="diff"),
    path("<uuid:action_id>/<slug:part>.json", views.value_json, name="value_json"),
]
