from django.urls import reverse

from tests.factories import make_event_type, make_webhook
from webhooks.models import ActivityEntry, EventType, Webhook


def test_list_shows_webhooks_with_their_subscriptions(admin_client):
    event_type = make_event_type(name="license.assigned")
    make_webhook(name="Orders", url="https://orders.example.com/h", event_types=[event_type])
    page = admin_client.get(reverse("webhooks:list")).content.decode()
    assert "Orders" in page
    assert "https://orders.example.com/h" in page
    assert "license.assigned" in page


def test_list_has_an_empty_state(admin_client):
    assert "No webhooks yet" in admin_client.get(reverse("webhooks:list")).content.decode()


def test_create_saves_and_redirects(admin_client):
    event_type = make_event_type()
    response = admin_client.post(
        reverse("webhooks:create"),
        {
            "name": "Orders",
            "url": "https://example.com/h",
            "is_active": "on",
            "timeout_seconds": "5",
            "event_types": [event_type.pk],
            "headers-TOTAL_FORMS": "1",
            "headers-INITIAL_FORMS": "0",
            "headers-0-name": "X-Tenant",
            "headers-0-value": "acme",
        },
    )
    assert response.status_code == 302
    webhook = Webhook.objects.get(name="Orders")
    assert webhook.timeout_seconds == 5
    assert webhook.custom_headers == [{"name": "X-Tenant", "value": "acme", "secret": False}]
    assert ActivityEntry.objects.filter(action="webhook.created").exists()


def test_create_with_a_bad_url_shows_the_error_with_422(admin_client):
    response = admin_client.post(
        reverse("webhooks:create"),
        {
            "name": "Bad",
            "url": "ftp://x",
            "timeout_seconds": "10",
            "headers-TOTAL_FORMS": "0",
            "headers-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 422
    assert "Invalid Webhook URL: the scheme must be http or https" in response.content.decode()
    assert not Webhook.objects.exists()


def test_edit_never_renders_the_secret_or_password(admin_client):
    webhook = make_webhook(basic_auth_username="u", basic_auth_password="pw-not-shown")
    page = admin_client.get(reverse("webhooks:edit", args=[webhook.pk])).content.decode()
    assert webhook.secret not in page
    assert webhook.masked_secret in page
    assert "pw-not-shown" not in page


def test_reveal_shows_the_full_secret_and_is_logged(admin_client):
    webhook = make_webhook()
    response = admin_client.post(reverse("webhooks:secret_reveal", args=[webhook.pk]))
    assert webhook.secret in response.content.decode()
    assert ActivityEntry.objects.filter(action="webhook.secret_revealed").exists()


def test_reveal_rejects_get(admin_client):
    webhook = make_webhook()
    response = admin_client.get(reverse("webhooks:secret_reveal", args=[webhook.pk]))
    assert response.status_code == 405


def test_rotate_issues_a_new_secret(admin_client):
    webhook = make_webhook()
    old = webhook.secret
    response = admin_client.post(reverse("webhooks:secret_rotate", args=[webhook.pk]))
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.secret != old
    assert webhook.previous_secret == old


def test_delete_asks_then_deletes(admin_client):
    webhook = make_webhook(name="Doomed")
    url = reverse("webhooks:delete", args=[webhook.pk])
    assert "Delete “Doomed”?" in admin_client.get(url).content.decode()
    assert admin_client.post(url).status_code == 302
    assert not Webhook.objects.filter(pk=webhook.pk).exists()


def test_unknown_webhook_is_404(admin_client):
    assert admin_client.get(reverse("webhooks:edit", args=[999999])).status_code == 404


def test_event_types_can_be_added_edited_and_deleted(admin_client):
    url = reverse("webhooks:event_types")
    assert (
        admin_client.post(url, {"name": "product.created", "category": "Product"}).status_code
        == 302
    )
    event_type = EventType.objects.get(name="product.created")
    edit = reverse("webhooks:event_type_edit", args=[event_type.pk])
    admin_client.post(edit, {"name": "product.created", "category": "Catalog"})
    event_type.refresh_from_db()
    assert event_type.category == "Catalog"
    admin_client.post(reverse("webhooks:event_type_delete", args=[event_type.pk]))
    assert not EventType.objects.exists()


def test_event_type_names_are_validated(admin_client):
    response = admin_client.post(
        reverse("webhooks:event_types"), {"name": "Not Valid", "category": "X"}
    )
    assert response.status_code == 422
    assert "lower-case words joined by dots" in response.content.decode()
