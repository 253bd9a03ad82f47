from django.urls import path
from rest_framework.routers import DefaultRouter

from escalation import config_views, ingest_views, report_views, rule_views, views, watch_views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("contacts", views.ContactViewSet)
router.register("policies", views.PolicyViewSet)
router.register("repos", views.RepoViewSet)
router.register("routes", views.RouteViewSet)
router.register("silences", views.SilenceViewSet)
router.register("watches", watch_views.WatchViewSet, basename="watch")

urlpatterns = [
    path("events/", ingest_views.EventsView.as_view(), name="ingest-events"),
    path("ingest/zuul/", ingest_views.ZuulView.as_view(), name="ingest-zuul"),
    path(
        "ingest/alertmanager/", ingest_views.AlertmanagerView.as_view(), name="ingest-alertmanager"
    ),
    path("ingest/grafana/", ingest_views.GrafanaView.as_view(), name="ingest-grafana"),
    path("ingest/github/", ingest_views.GithubView.as_view(), name="ingest-github"),
    path("coverage/", views.CoverageView.as_view(), name="coverage"),
    path("reports/", report_views.ReportView.as_view(), name="reports"),
    path("config/", config_views.ConfigView.as_view(), name="config"),
    path("config/plan/", config_views.PlanView.as_view(), name="config-plan"),
    path("config/apply/", config_views.ApplyView.as_view(), name="config-apply"),
    path("people/<slug:handle>/rules/", rule_views.PersonRulesView.as_view(), name="person-rules"),
    *router.urls,
]
