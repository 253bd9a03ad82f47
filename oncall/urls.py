from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from escalation import action_links, metrics, watch_views
from oncall import views
from rotations import feeds, oidc_views

api_v1 = [
    path("", include("rotations.urls")),
    path("", include("escalation.urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("ical/<str:token>.ics", feeds.feed, name="feed"),
    path("hb/<str:token>", watch_views.ping, name="watch-ping"),
    path("hb/<str:token>/fail", watch_views.ping_fail, name="watch-ping-fail"),
    path("act/<str:action>/<str:token>/", action_links.confirm, name="incident-action"),
    path("admin/", admin.site.urls),
    path("accounts/login/", oidc_views.LoginView.as_view(), name="login"),
    path("accounts/oidc/login/", oidc_views.start, name="oidc-login"),
    path("accounts/oidc/callback/", oidc_views.callback, name="oidc-callback"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("escalation.web_urls")),
    path("", include("rotations.web_urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script (CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="oncall/swagger_ui.html"
        ),
        name="api-docs",
    ),
]

handler404 = "oncall.views.not_found"
handler500 = "oncall.views.server_error"
