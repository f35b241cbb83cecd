import base64
from datetime import timedelta

from django.utils import timezone

from tests.factories import make_webhook
from webhooks.models import generate_secret, mask_secret


def test_secrets_are_whsec_and_24_random_bytes():
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert generate_secret() != secret


def test_masked_secret_shows_only_prefix_and_last_four():
    secret = "whsec_abcdefghijklmnopqrstuvwxyz012345"
    masked = mask_secret(secret)
    assert masked.startswith("whsec_")
    assert masked.endswith("2345")
    assert "abcdefgh" not in masked
    assert mask_secret("") == ""


def test_rotation_keeps_the_old_secret_signing_for_a_day(db):
    webhook = make_webhook()
    old = webhook.secret
    webhook.rotate_secret()
    webhook.refresh_from_db()
    assert webhook.secret != old
    assert webhook.signing_secrets() == [webhook.secret, old]
    webhook.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    assert webhook.signing_secrets() == [webhook.secret]
