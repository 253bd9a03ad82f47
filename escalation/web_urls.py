"""URLs of the web UI's incident, on-call, coverage and personal pages (site root)."""

from django.contrib.auth.decorators import login_required
from django.urls import path

from escalation import web, web_me, web_overview, web_reports

urlpatterns = [
    path("", login_required(web.home), name="web-home"),
    path("incidents/", web.incidents, name="web-incidents"),
    path("incidents/<int:pk>/", web.incident, name="web-incident"),
    *(
        path(f"incidents/<int:pk>/{name}/", web.incident_action, {"name": name}, name=f"web-{name}")
        for name in web.DONE
    ),
    *(
        path(f"incidents/<int:pk>/{name}/", web.incident_more, {"name": name}, name=f"web-{name}")
        for name in web.MORE
    ),
    path("oncall/", web_overview.oncall_now, name="web-oncall"),
    path("coverage/", web_overview.coverage, name="web-coverage"),
    path("me/", web_overview.me, name="web-me"),
    path("me/profile/", web_me.profile, name="web-me-profile"),
    path("me/matrix/confirm/", web_me.confirm_matrix, name="web-me-matrix-confirm"),
    path("me/rules/", web_me.save_rules, name="web-me-rules"),
    path("me/confirm/<str:token>/", web_me.confirm_email, name="web-me-confirm"),
    path("reports/", web_reports.report, name="web-reports"),
]
