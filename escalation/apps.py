from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "escalation"

    def ready(self) -> None:
        from escalation import config
        from escalation.views import repo_oncall

        config.connect()
        from rotations.views import ONCALL_RESOLVERS

        ONCALL_RESOLVERS["repo"] = repo_oncall

        from escalation.channels import matrix

        if matrix.configured():
            matrix.setup()
