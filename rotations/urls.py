from rest_framework.routers import DefaultRouter

from rotations import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("people", views.PersonViewSet)

urlpatterns = router.urls
