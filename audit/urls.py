from django.urls import path

from . import views
from .api import AuditEventsView

urlpatterns = [
    path("audit/", views.audit_page, name="audit"),
    path("audit/export", views.audit_download, name="audit-download"),
    path("api/v1/audit/events", AuditEventsView.as_view(), name="audit-events"),
]
