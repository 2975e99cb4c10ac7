from django.urls import path

from . import views

urlpatterns = [
    path("actions", views.ActionSubmitView.as_view(), name="action-submit"),
    path("actions/preview", views.ActionPreviewView.as_view(), name="action-preview"),
    path("actions/<uuid:action_id>", views.ActionDetailView.as_view(), name="action-detail"),
    path("actions/<uuid:action_id>/cancel", views.ActionCancelView.as_view(), name="action-cancel"),
    path("actions/<uuid:action_id>/outcome", views.ActionOutcomeView.as_view(), name="action-outcome"),
    path("receipt-keys", views.ReceiptKeysView.as_view(), name="receipt-keys"),
]
