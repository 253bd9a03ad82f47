from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "oncall"
    verbose_name = "Service"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from oncall.api import schema  # noqa: F401  (registers the OpenAPI extension)
        from oncall.login_limits import on_login_failed

        user_login_failed.connect(on_login_failed, dispatch_uid="count-login-failures")
