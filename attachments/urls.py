from django.urls import path

from attachments import views

app_name = "attachments"

urlpatterns = [
    path("<int:attachment_id>/thumbnail/", views.attachment_thumbnail, name="thumbnail"),
    path("<int:attachment_id>/<str:name>", views.attachment_file, name="file"),
]
