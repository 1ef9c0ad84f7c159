from django.db import models


class ChatMessage(models.Model):
    room = models.CharField(max_length=100)
    body = models.TextField()
    client_id = models.CharField(max_length=36)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.body
