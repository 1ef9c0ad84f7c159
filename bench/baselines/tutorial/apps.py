from django.apps import AppConfig


class TutorialConfig(AppConfig):
    name = "bench.baselines.tutorial"
    label = "tutorial"
    default_auto_field = "django.db.models.BigAutoField"
