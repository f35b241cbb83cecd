"""The demo's catalogue: its event types, and webhooks on the demo receiver that answer
like real endpoints (see ``demo_receiver.py``). ``make run`` loads them (``load_demo``)."""

EVENT_TYPES = [
    ("license.assigned", "License", "A license was assigned to a user."),
    ("license.revoked", "License", "A license was taken back from a user."),
    ("license.expired", "License", "A license reached its end date."),
    ("activation.created", "Activation", "A device was activated."),
    ("activation.deleted", "Activation", "A device activation was removed."),
    ("product.created", "Product", "A product was added to the catalog."),
    ("product.updated", "Product", "A product's details changed."),
    ("user.created", "User", "A user signed up."),
]

# name, path on the demo receiver (or a full URL), subscribed event types, extra fields
WEBHOOKS = [
    ("Order Sync", "/orders", ["license.assigned", "product.created", "product.updated"], {}),
    ("CRM Contacts", "/crm", ["user.created", "activation.created"], {}),
    ("Billing Service", "/billing", ["license.assigned", "license.revoked", "license.expired"], {}),
    ("Legacy Integration", "/legacy", ["product.updated"], {}),
    (
        "Analytics Pipeline",
        "/analytics",
        [name for name, _, _ in EVENT_TYPES],
        {"timeout_seconds": 3},
    ),
    # Nothing listens on port 9 (discard): every try is refused.
    ("Warehouse (offline)", "http://127.0.0.1:9/hooks", ["license.assigned"], {}),
    ("Partner Portal (paused)", "/crm", ["activation.created"], {"is_active": False}),
]
