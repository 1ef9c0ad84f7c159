from django.apps import AppConfig


class PostgresConfig(AppConfig):
    name = "postgres"
    label = "parley_postgres"  # django.contrib.postgres is "postgres"
    verbose_name = "PostgreSQL helpers"

    def ready(self):
        from django.db.backends.signals import connection_created

        from postgres import timestamps

        connection_created.connect(timestamps.use_c_loader)
