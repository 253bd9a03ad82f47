from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "oncall"
    verbose_name = "Service"

    def ready(self) -> None:
        from oncall.api import schema  # noqa: F401  (registers the OpenAPI extension)
