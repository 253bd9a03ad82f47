"""URLs of the web UI's rotation pages (site root)."""

from django.urls import path

from rotations import web

urlpatterns = [
    path("rotations/<slug:slug>/", web.rotation, name="web-rotation"),
    path("rotations/<slug:slug>/overrides/", web.create_override, name="web-override-create"),
    path(
        "rotations/<slug:slug>/overrides/<int:pk>/delete/",
        web.delete_override,
        name="web-override-delete",
    ),
    path("rotations/<slug:slug>/feed/reset/", web.reset_rotation_feed, name="web-rotation-feed"),
    path("me/feed/reset/", web.reset_my_feed, name="web-me-feed"),
]
