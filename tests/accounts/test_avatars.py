import io
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import ExifTags, Image, ImageFile

from accounts import services
from accounts.avatars import MAX_UPLOAD_BYTES, AvatarRejected, avatar_thumbnail
from tests.accounts.images import gif_bomb, image_bytes, png_bomb, upload, webp_bomb

PROFILE = reverse("accounts:profile")


def photo_with_gps() -> bytes:
    """A 400x200 JPEG, red left and blue right, that EXIF says to rotate 90° clockwise."""
    image = Image.new("RGB", (400, 200), "blue")
    image.paste("red", (0, 0, 200, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (51.0, 30.0, 26.0),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.0),
    }
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def post_picture(client, user, content: bytes, name="picture.jpg", content_type="image/jpeg"):
    data = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email}
    return client.post(PROFILE, data | {"avatar": upload(content, name, content_type)})


def stored_path(user) -> Path:
    return Path(user.avatar.path)


@pytest.fixture
def user_with_picture(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.avatar_set(user=user, upload=upload(image_bytes("PNG", color="green")))
    user.refresh_from_db()
    return user


def test_photo_is_stored_as_a_bare_upright_256_px_square(client, user):
    original = photo_with_gps()
    source_exif = Image.open(io.BytesIO(original)).getexif()
    assert source_exif.get_ifd(ExifTags.IFD.GPSInfo)
    client.force_login(user)

    response = post_picture(client, user, original)

    assert response.status_code == 302
    user.refresh_from_db()
    assert re.fullmatch(r"avatars/[0-9a-f]{32}\.jpg", user.avatar.name)
    stored = stored_path(user).read_bytes()
    assert b"Exif" not in stored
    assert b"SpyCam" not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG"
    assert image.size == (256, 256)
    assert not image.getexif()
    assert "exif" not in image.info
    top, bottom = (
        image.convert("RGB").getpixel((128, 20)),
        image.convert("RGB").getpixel((128, 235)),
    )
    assert top[0] > 200 and top[2] < 60, "the red half belongs on top once rotated upright"
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_png_webp_and_gif_are_accepted_and_become_jpeg(client, user, fmt, content_type):
    client.force_login(user)

    response = post_picture(
        client, user, image_bytes(fmt, size=(300, 500)), f"picture.{fmt.lower()}", content_type
    )

    assert response.status_code == 302
    user.refresh_from_db()
    image = Image.open(stored_path(user))
    assert (image.format, image.size, image.mode) == ("JPEG", (256, 256), "RGB")


def test_transparency_is_flattened_on_white():
    transparent = image_bytes("PNG", size=(50, 50), color=(255, 0, 0, 0))

    image = Image.open(io.BytesIO(avatar_thumbnail(upload(transparent, "clear.png"))))

    assert all(channel > 245 for channel in image.getpixel((128, 128)))


def assert_refused_and_kept(response, user, old_name: str, message: str):
    assert response.status_code == 200
    assert message in response.context["form"].errors["avatar"][0]
    assert message in response.content.decode()
    user.refresh_from_db()
    assert user.avatar.name == old_name
    assert stored_path(user).exists()


def test_script_renamed_png_is_refused_and_old_picture_kept(client, user_with_picture):
    user = user_with_picture
    old_name = user.avatar.name
    client.force_login(user)

    response = post_picture(
        client, user, b"#!/bin/sh\nrm -rf /\n", "avatar.png", content_type="image/png"
    )

    assert_refused_and_kept(response, user, old_name, "not a picture we can read")


def test_file_over_5_mb_is_refused_and_old_picture_kept(client, user_with_picture):
    user = user_with_picture
    old_name = user.avatar.name
    client.force_login(user)
    oversized = image_bytes("JPEG") + b"\0" * MAX_UPLOAD_BYTES

    response = post_picture(client, user, oversized)

    assert_refused_and_kept(response, user, old_name, "larger than 5 MB")


@pytest.mark.parametrize("side", [110, 40], ids=["over twice the limit", "just over the limit"])
def test_decompression_bomb_is_refused_and_old_picture_kept(
    client, user_with_picture, monkeypatch, side
):
    user = user_with_picture
    old_name = user.avatar.name
    client.force_login(user)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    response = post_picture(client, user, image_bytes("PNG", size=(side, side)), "bomb.png")

    assert_refused_and_kept(response, user, old_name, "dimensions are too large")


@pytest.mark.parametrize(
    ("bomb", "name", "content_type"),
    [
        (png_bomb, "bomb.png", "image/png"),
        (gif_bomb, "bomb.gif", "image/gif"),
        (webp_bomb, "bomb.webp", "image/webp"),
    ],
    ids=["1-bit PNG", "GIF screen", "lossless WebP"],
)
def test_small_file_of_9400_by_9400_pixels_is_refused_and_old_picture_kept(
    client, user_with_picture, bomb, name, content_type
):
    user = user_with_picture
    old_name = user.avatar.name
    client.force_login(user)
    content = bomb()
    assert len(content) < 12_000

    response = post_picture(client, user, content, name, content_type)

    assert_refused_and_kept(response, user, old_name, "too large (9400 x 9400 pixels)")


def test_dimensions_are_checked_before_any_pixel_is_decoded(monkeypatch):
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image))

    with pytest.raises(AvatarRejected, match="dimensions are too large"):
        avatar_thumbnail(upload(png_bomb(), "bomb.png"))

    assert decoded == []


def test_pixel_limit_is_a_setting_and_a_picture_at_the_limit_is_accepted(settings):
    settings.IMAGE_MAX_PIXELS = 300 * 200

    at_limit = Image.open(io.BytesIO(avatar_thumbnail(upload(image_bytes("PNG", (300, 200))))))
    with pytest.raises(AvatarRejected, match="dimensions are too large"):
        avatar_thumbnail(upload(image_bytes("PNG", (301, 200))))

    assert at_limit.size == (256, 256)


def test_webp_may_have_a_quarter_of_the_pixels_as_libwebp_holds_three_more_copies(settings):
    settings.IMAGE_MAX_PIXELS = 400 * 400

    at_limit = Image.open(io.BytesIO(avatar_thumbnail(upload(webp_bomb(200), "p.webp"))))
    refusal = "WEBP picture may have at most 40,000 pixels, such as 200 x 200"
    with pytest.raises(AvatarRejected, match=refusal):
        avatar_thumbnail(upload(webp_bomb(201), "p.webp"))

    assert at_limit.size == (256, 256)


def test_progressive_jpeg_may_have_half_the_pixels_as_libjpeg_holds_its_coefficients(settings):
    settings.IMAGE_MAX_PIXELS = 400 * 400
    square = {"size": (300, 300), "subsampling": 0}

    baseline = avatar_thumbnail(upload(image_bytes("JPEG", **square)))
    with pytest.raises(AvatarRejected, match="dimensions are too large"):
        avatar_thumbnail(upload(image_bytes("JPEG", progressive=True, **square)))

    assert Image.open(io.BytesIO(baseline)).size == (256, 256)


def test_large_picture_is_reduced_upright_and_flattened(settings):
    """A 2400x1200 PNG (reduced strip by strip before scaling), rotated by its EXIF orientation."""
    image = Image.new("RGBA", (2400, 1200), "blue")
    image.paste("red", (0, 0, 1200, 1200))
    image.paste((0, 0, 0, 0), (1150, 1100, 1250, 1200))  # transparent at the bottom centre
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif)

    thumbnail = Image.open(io.BytesIO(avatar_thumbnail(upload(buffer.getvalue(), "big.png"))))

    assert thumbnail.size == (256, 256)
    top, bottom = thumbnail.getpixel((128, 20)), thumbnail.getpixel((128, 235))
    assert top[0] > 200 and top[2] < 60, "the red half belongs on top once rotated upright"
    assert bottom[2] > 200 and bottom[0] < 60
    assert all(channel > 230 for channel in thumbnail.getpixel((3, 128))), "transparent is white"


def test_at_most_the_configured_number_of_pictures_are_decoded_at_once(settings, monkeypatch):
    lock, decoding, most = threading.Lock(), [0], [0]
    real_load = ImageFile.ImageFile.load

    def slow_load(image):
        with lock:
            decoding[0] += 1
            most[0] = max(most[0], decoding[0])
        time.sleep(0.2)
        with lock:
            decoding[0] -= 1
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)
    with ThreadPoolExecutor(5) as pool:
        thumbnails = list(
            pool.map(lambda _: avatar_thumbnail(upload(image_bytes("PNG"), "p.png")), range(5))
        )

    assert len(thumbnails) == 5
    assert most[0] == settings.IMAGE_DECODE_CONCURRENCY == 2


def test_other_formats_pillow_knows_are_refused():
    bitmap = io.BytesIO()
    Image.new("RGB", (20, 20)).save(bitmap, "BMP")

    with pytest.raises(AvatarRejected):
        avatar_thumbnail(upload(bitmap.getvalue(), "picture.bmp"))


def test_truncated_jpeg_is_refused():
    truncated = image_bytes("JPEG", size=(300, 300))[:400]

    with pytest.raises(AvatarRejected):
        avatar_thumbnail(upload(truncated))


def test_refused_picture_saves_nothing_else_from_the_form(client, user_with_picture):
    user = user_with_picture
    client.force_login(user)
    data = {"first_name": "Changed", "last_name": user.last_name, "email": user.email}

    client.post(PROFILE, data | {"avatar": upload(b"not an image", "x.png", "image/png")})

    user.refresh_from_db()
    assert user.first_name != "Changed"


def test_replacing_the_picture_deletes_the_old_file(
    client, user_with_picture, django_capture_on_commit_callbacks
):
    user = user_with_picture
    old_path = stored_path(user)
    client.force_login(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_picture(client, user, image_bytes("JPEG", color="orange"))

    assert response.status_code == 302
    user.refresh_from_db()
    assert stored_path(user) != old_path
    assert stored_path(user).exists()
    assert not old_path.exists()


def test_old_file_is_kept_until_the_change_commits(client, user_with_picture):
    user = user_with_picture
    old_path = stored_path(user)
    client.force_login(user)

    post_picture(client, user, image_bytes("JPEG", color="orange"))

    assert old_path.exists()


def test_remove_picture_clears_the_field_and_deletes_the_file(
    client, user_with_picture, django_capture_on_commit_callbacks
):
    user = user_with_picture
    old_path = stored_path(user)
    client.force_login(user)
    data = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PROFILE, data | {"avatar_remove": "on"})

    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.avatar
    assert not old_path.exists()
    page = client.get(PROFILE).content.decode()
    assert reverse("accounts:initials_avatar", args=[user.username]) in page


def test_choosing_a_picture_and_remove_together_is_refused(client, user_with_picture):
    user = user_with_picture
    old_name = user.avatar.name
    client.force_login(user)
    data = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email}

    response = client.post(PROFILE, data | {"avatar_remove": "on", "avatar": upload(image_bytes())})

    assert response.status_code == 200
    assert response.context["form"].errors["avatar_remove"]
    user.refresh_from_db()
    assert user.avatar.name == old_name


def test_dashboard_and_header_show_the_uploaded_picture(client, user_with_picture):
    client.force_login(user_with_picture)

    html = client.get(PROFILE).content.decode()

    assert html.count(user_with_picture.avatar.url) == 2
    assert 'name="avatar_remove"' in html
