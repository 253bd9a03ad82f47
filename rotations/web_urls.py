"""URLs of the web UI's rotation pages (site root)."""

from django.urls import path

from rotations import web, web_swaps

urlpatterns = [
    path("rotations/<slug:slug>/", web.rotation, name="web-rotation"),
    path("rotations/<slug:slug>/overrides/", web.create_override, name="web-override-create"),
    path(
        "rotations/<slug:slug>/overrides/<int:pk>/delete/",
        web.delete_override,
        name="web-override-delete",
    ),
    path("rotations/<slug:slug>/swaps/", web_swaps.ask, name="web-swap-ask"),
    path(
        "rotations/<slug:slug>/swaps/<int:pk>/<str:name>/",
        web_swaps.act,
        name="web-swap-act",
    ),
    path("rotations/<slug:slug>/feed/reset/", web.reset_rotation_feed, name="web-rotation-feed"),
    path("me/feed/reset/", web.reset_my_feed, name="web-me-feed"),
]
