from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.static import serve

from accounts.forms import AdminLoginForm

# The admin's log-in checks passwords too: the same throttle as the site's log-in.
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:lobby", permanent=False), name="home"),
    # The admin's own password change checks the old password unthrottled: use the site's.
    path(
        "admin/password_change/",
        RedirectView.as_view(pattern_name="accounts:password_change", permanent=False),
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("chat/", include("chat.urls")),
    path("api/", include("chat.api_urls")),
    path("files/", include("attachments.urls")),
]

if settings.DEBUG or settings.SERVE_MEDIA:
    urlpatterns += [
        path(
            f"{settings.MEDIA_URL.lstrip('/')}<path:path>",
            serve,
            {"document_root": settings.MEDIA_ROOT},
        )
    ]
