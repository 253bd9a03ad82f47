from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "oncall"
    verbose_name = "Service"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed
        from django.db.models.signals import post_delete, post_save

        from oncall.api import schema  # noqa: F401  (registers the OpenAPI extension)
        from oncall.api.auth import forget_tokens
        from oncall.login_limits import on_login_failed
        from oncall.models import ApiToken

        post_save.connect(forget_tokens, sender=ApiToken, dispatch_uid="forget-tokens-save")
        post_delete.connect(forget_tokens, sender=ApiToken, dispatch_uid="forget-tokens-del")
        user_login_failed.connect(on_login_failed, dispatch_uid="count-login-failures")
