from django.apps import AppConfig


class RotationsConfig(AppConfig):
    name = "rotations"
