from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self):
        from chat import signals, sockets  # noqa: F401 (signals connects the revocation receivers)
        from realtime import publisher

        publisher.on_publish_failure(sockets.room_stale)
