from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "escalation"

    def ready(self) -> None:
        from escalation import plugins  # imports views and channels: only once apps are ready

        plugins.register()
