from django.urls import URLPattern

# Incidents, ingestion, repos, routes and policies arrive with the incidents issue.
urlpatterns: list[URLPattern] = []
