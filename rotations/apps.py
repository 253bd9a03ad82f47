from django.apps import AppConfig


class RotationsConfig(AppConfig):
    name = "rotations"

    def ready(self) -> None:
        from rotations import generation

        generation.connect()
