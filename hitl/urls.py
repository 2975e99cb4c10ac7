from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from calibration.api import CalibrationView, PreferencesView, TrainingDataView
from reviews import views as review_views
from reviews.api import DecisionView

from . import views

urlpatterns = [
    path("", review_views.landing, name="landing"),
    path("activity/", review_views.activity, name="activity"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.no_favicon),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("reviews/", include("reviews.urls")),
    path("calibration/", include("calibration.urls")),
    path("dashboard/", include("escalation.urls")),
    path("", include("audit.urls")),  # the auditors' page and the export API
    path("api/v1/actions/<uuid:action_id>/decision", DecisionView.as_view(), name="action-decision"),
    path("api/v1/calibration", CalibrationView.as_view(), name="calibration-api"),
    path("api/v1/training-data", TrainingDataView.as_view(), name="training-data"),
    path("api/v1/preferences", PreferencesView.as_view(), name="preferences-api"),
    path("api/v1/", include("hitl.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Its start-up script is served apart (?script), not inline: the Content-Security-Policy allows none.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # Everything else under /api/ answers the JSON error shape, with DEBUG on too (where handler404
    # is not used): an unknown path, an id that is not a UUID. The catch-all makes every /api/ path
    # valid, so APPEND_SLASH no longer adds the docs' slash: these redirects do.
    path("api/schema", RedirectView.as_view(pattern_name="schema", query_string=True, permanent=True)),
    path("api/docs", RedirectView.as_view(pattern_name="api-docs", permanent=True)),
    re_path(r"^api/", csrf_exempt(views.not_found)),
]

handler400 = "hitl.views.bad_request"
handler404 = "hitl.views.not_found"
handler500 = "hitl.views.server_error"
