from django.urls import path
from rest_framework.routers import DefaultRouter

from rotations import swap_views, views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("people", views.PersonViewSet)
router.register("teams", views.TeamViewSet)
router.register("rotations", views.RotationViewSet, basename="rotation")
router.register("overrides", views.OverrideViewSet, basename="override")
router.register("swaps", swap_views.SwapViewSet, basename="swap")

urlpatterns = [
    path("oncall/", views.OnCallView.as_view(), name="oncall"),
    *router.urls,
]
