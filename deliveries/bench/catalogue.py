"""The made-up world the benchmark history is drawn from: event types, companies,
webhook purposes, failure kinds and profiles, and the bodies receivers answer with."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from deliveries.models import FailureReason
from webhooks.demo import EVENT_TYPES as DEMO_EVENT_TYPES

EVENT_TYPES = [
    *DEMO_EVENT_TYPES,
    ("license.renewed", "License", "A license was renewed for another term."),
    ("activation.limit_reached", "Activation", "An activation was refused: no seats left."),
    ("product.deleted", "Product", "A product was removed from the catalog."),
    ("user.updated", "User", "A user's profile changed."),
    ("user.deleted", "User", "A user account was deleted."),
    ("invoice.paid", "Invoice", "An invoice was paid."),
    ("invoice.payment_failed", "Invoice", "A payment for an invoice was declined."),
    ("subscription.created", "Subscription", "A subscription started."),
    ("subscription.cancelled", "Subscription", "A subscription was cancelled."),
]
# How often each event type happens; the others weigh 1.
EVENT_WEIGHTS = {
    "license.assigned": 6,
    "activation.created": 5,
    "user.created": 5,
    "user.updated": 4,
    "invoice.paid": 3,
    "license.renewed": 2,
    "subscription.created": 2,
}
COMPANIES = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
    "Soylent", "Cyberdyne", "Tyrell", "Wonka", "Aperture", "Vandelay", "Pied Piper",
    "Dunder Mifflin", "Oscorp", "Nakatomi", "Massive Dynamic", "Gringotts", "Bluth Company",
    "Sterling Cooper", "Monarch", "Virtucon", "Contoso", "Prestige Worldwide",
]  # fmt: skip
# Name, host word, path, categories subscribed (None: all of them).
PURPOSES = [
    ("Billing", "billing", "/webhooks/billing", ["License", "Invoice", "Subscription"]),
    ("CRM Sync", "crm", "/hooks/contacts", ["User"]),
    ("License Server", "licensing", "/api/v1/license-events", ["License", "Activation"]),
    ("Analytics", "events", "/ingest/webhooks", None),
    ("Provisioning", "provision", "/callbacks/provision", ["Activation", "License"]),
    ("Catalog Sync", "catalog", "/sync/products", ["Product"]),
    ("Support Desk", "support", "/integrations/portal", ["User", "Subscription"]),
    ("Data Warehouse", "etl", "/v2/webhooks/inbound", None),
]
# A failure kind: (reason, response code).
FAILURES = {
    "500": (FailureReason.HTTP_ERROR, 500),
    "502": (FailureReason.HTTP_ERROR, 502),
    "503": (FailureReason.HTTP_ERROR, 503),
    "504": (FailureReason.HTTP_ERROR, 504),
    "404": (FailureReason.HTTP_ERROR, 404),
    "401": (FailureReason.HTTP_ERROR, 401),
    "410": (FailureReason.HTTP_ERROR, 410),
    "timeout": (FailureReason.TIMEOUT, None),
    "refused": (FailureReason.CONNECTION_REFUSED, None),
    "dns": (FailureReason.DNS_ERROR, None),
    "tls": (FailureReason.TLS_ERROR, None),
    "invalid_url": (FailureReason.INVALID_URL, None),
    "blocked": (FailureReason.BLOCKED_DESTINATION, None),
}
# Never retried (STYLE.md: the sender's permanent failures).
PERMANENT = {"invalid_url", "blocked"}
# Profile: chance a first attempt fails, chance a retry fails again, failure kinds by weight.
PROFILES = {
    "healthy": (
        0.035,
        0.3,
        {
            "500": 4,
            "502": 2,
            "503": 3,
            "504": 1,
            "404": 0.5,
            "timeout": 3,
            "refused": 1,
            "dns": 0.5,
        },
    ),
    "flaky": (0.18, 0.5, {"502": 3, "503": 4, "504": 2, "timeout": 3, "refused": 1}),
    "erroring": (0.25, 0.6, {"500": 8, "404": 1}),
    "auth": (0.2, 0.9, {"401": 1}),
    "gone": (0.5, 0.97, {"410": 3, "404": 1}),
    "network": (0.2, 0.6, {"dns": 2, "tls": 2, "refused": 1, "timeout": 1}),
    "misconfigured": (0.1, 0.5, {"invalid_url": 1, "500": 1}),
    "blocked": (0.1, 0.5, {"blocked": 1, "timeout": 1}),
}
# The unhealthy profiles in 50 webhooks; fewer webhooks get a proportional share.
SPECIAL = [*["flaky"] * 5, "erroring", "auth", "gone", "network", "misconfigured", "blocked"]
SUCCESS_STYLES = [
    (200, "application/json", '{"received":true}'),
    (200, "application/json", '{"ok":true}'),
    (202, "application/json", '{"status":"accepted","id":"%s"}'),
    (204, "", ""),
    (200, "text/plain; charset=utf-8", "OK"),
]
ERROR_BODIES = {
    404: '{"error":"not_found","message":"No route matches POST %s"}',
    401: '{"error":"invalid_signature","message":"Signature verification failed"}',
    410: '{"error":"gone","message":"This endpoint was retired. Update your webhook URL."}',
    503: '{"error":"service_unavailable","message":"Down for maintenance, retry later"}',
}
GATEWAY_PAGE = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>"
    "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
FIRST = ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Radia", "Edsger"]
LAST = ["Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Liskov", "Thompson", "Perlman"]
MAIL_DOMAINS = ["example.com", "example.org", "example.net"]
PRODUCTS = [
    ("STU-PRO", "Studio Pro"), ("ANL-PLS", "Analytics Plus"), ("TEAM-VLT", "Team Vault"),
    ("EDGE-GW", "Edge Gateway"), ("DSGN-SUI", "Design Suite"), ("CLD-SYNC", "Cloud Sync"),
]  # fmt: skip
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
# The start of every recorded request-headers object (deliveries.sender.build_request).


@dataclass(eq=False, slots=True)
class Hook:
    """A seeded webhook, how it behaves, and what its requests look like."""

    id: int
    url: str
    timeout: int
    weight: float
    disabled_at: datetime | None
    first_fail: float
    retry_fail: float
    failure_kinds: list[str]
    failure_weights: list[float]
    permanent_share: float
    delays: list[float]
    latency_mu: float
    success: tuple[int, str, str]
    server: str
    stack_trace: str
    # The recorded custom and Authorization headers, as the end of a JSON object.
    headers_tail: str
    portal_key: bytes
    standard_key: bytes

    def fails(self, rng: random.Random, retry: bool) -> str | None:
        """The failure kind of an attempt, or None when it succeeds."""
        if rng.random() >= (self.retry_fail if retry else self.first_fail):
            return None
        return rng.choices(self.failure_kinds, cum_weights=self.failure_weights)[0]

    def expected_attempts(self) -> tuple[float, float]:
        """Attempts, and failed attempts, of an average automatic delivery."""
        going, attempts, failed = self.first_fail, 1.0, self.first_fail
        for _ in self.delays:
            going *= 1 - self.permanent_share
            attempts += going
            going *= self.retry_fail
            failed += going
        return attempts, failed


def failure_of(rng, hook: Hook, failure: str) -> tuple[str, str, float, str, str]:
    """(content type, response body, duration in ms, failure detail, request URL)."""
    url = hook.url
    latency = rng.lognormvariate(hook.latency_mu, 0.6)
    code = FAILURES[failure][1]
    if failure == "500":
        if rng.random() < 0.15:
            return "text/plain", hook.stack_trace, latency * 3, "HTTP 500", url
        body = f'{{"error":"internal_server_error","request_id":"req_{rng.getrandbits(48):012x}"}}'
        return "application/json", body, latency * 1.5, "HTTP 500", url
    if failure in ("502", "504"):
        title = "502 Bad Gateway" if code == 502 else "504 Gateway Time-out"
        duration = rng.uniform(5, 60) if code == 502 else rng.uniform(2000, 9000)
        return "text/html", GATEWAY_PAGE.format(title), duration, f"HTTP {code}", url
    _, _, host, path = url.split("/", 3)
    path = "/" + path
    if code is not None:
        body = ERROR_BODIES[code].replace("%s", path)
        return "application/json", body, latency, f"HTTP {code}", url
    if failure == "timeout":
        detail = "the receiver did not answer in time"
        if rng.random() < 0.3:
            detail = f"no complete response within {hook.timeout} s"
        return "", "", hook.timeout * 1000 + rng.uniform(0, 40), detail, url
    if failure == "refused":
        return "", "", rng.lognormvariate(3.4, 0.5), "the receiver refused the connection", url
    if failure == "dns":
        return "", "", rng.lognormvariate(3.7, 0.6), "the host name could not be resolved", url
    if failure == "tls":
        detail = (
            f"HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: "
            f"{path} (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_"
            "VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)')))"
        )
        return "", "", rng.lognormvariate(4.4, 0.4), detail, url
    if failure == "invalid_url":
        # The URL had a typo in its port back then; it was fixed later.
        url = f"https://{host}:443443{path}"
        return "", "", 0, "the port is not a number between 0 and 65535.", url
    address = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    detail = f"{host} resolves to {address}, a private or reserved address"
    return "", "", rng.lognormvariate(3.0, 0.5), detail, url


def stack_trace(rng, slug: str) -> str:
    """A long 500 body (2-3 KB), as a crashing receiver in one of three languages prints it."""
    package = slug.replace("-", "")
    language = rng.choice(["python", "java", "node"])
    if language == "python":
        frames = [
            ("django/core/handlers/exception.py", 55, "response = get_response(request)"),
            ("django/core/handlers/base.py", 197, "response = wrapped_callback(request)"),
            (f"{package}/webhooks/views.py", 41, "handler(payload)"),
            (f"{package}/webhooks/handlers.py", 88, "Account.objects.get(external_id=ref)"),
            ("django/db/models/query.py", 649, "raise self.model.DoesNotExist("),
        ]
        lines = ["Traceback (most recent call last):"]
        for file, line, code in frames * 3:
            lines += [f'  File "/srv/app/.venv/lib/python3.12/{file}", line {line}', f"    {code}"]
        lines.append(
            f"{package}.models.Account.DoesNotExist: Account matching query does not exist."
        )
        return "\n".join(lines)
    if language == "java":
        lines = [f'java.lang.NullPointerException: Cannot invoke "com.{package}.Customer.getId()"']
        lines += [
            f"\tat com.{package}.webhooks.EventDispatcher$Handler{n % 7}.handle"
            f"(EventDispatcher.java:{57 + n * 13})"
            for n in range(30)
        ]
        return "\n".join(lines)
    lines = ["TypeError: Cannot read properties of undefined (reading 'email')"]
    lines += [
        f"    at handle{n % 5} (/srv/{package}/dist/handlers/events.js:{41 + n}:7)"
        for n in range(36)
    ]
    return "\n".join(lines)


def person(rng) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "id": f"usr_{rng.getrandbits(40):010x}",
        "email": f"{first.lower()}.{last.lower()}@{rng.choice(MAIL_DOMAINS)}",
        "name": f"{first} {last}",
    }


def event_data(rng, category: str, occurred: datetime) -> dict:
    """An event's data: a few hundred bytes, shaped by its category."""
    sku, product = rng.choice(PRODUCTS)
    license_key = "-".join(f"{rng.getrandbits(16):04X}" for _ in range(4))
    later = (occurred + timedelta(days=rng.choice([30, 365]))).date().isoformat()
    data = {
        "id": f"{category[:3].lower()}_{rng.getrandbits(64):016x}",
        "account": {"id": f"acct_{rng.randint(10000, 99999)}", "name": rng.choice(COMPANIES)},
    }
    if category == "License":
        data |= {
            "license_key": license_key,
            "product": {"sku": sku, "name": product},
            "user": person(rng),
            "seats": rng.randint(1, 250),
            "expires_at": later,
        }
    elif category == "Activation":
        data |= {
            "license_key": license_key,
            "device": {
                "id": f"dev_{rng.getrandbits(32):08x}",
                "hostname": f"{rng.choice(FIRST).lower()}-{rng.choice(['mbp', 'xps', 'ws'])}",
                "os": rng.choice(["macOS 14.5", "Windows 11", "Ubuntu 24.04"]),
                "app_version": f"4.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            },
            "user": person(rng),
        }
    elif category == "Product":
        price = rng.choice([4900, 9900, 19900, 49900])
        data |= {
            "product": {"sku": sku, "name": product, "status": "active"},
            "price": {"amount": price, "currency": rng.choice(["USD", "EUR", "GBP"])},
            "tags": rng.sample(["design", "team", "cloud", "security", "analytics"], 2),
        }
    elif category == "Invoice":
        quantity, price = rng.randint(1, 50), rng.choice([900, 1900, 4900])
        data |= {
            "customer": person(rng),
            "amount_due": quantity * price,
            "currency": rng.choice(["USD", "EUR", "GBP"]),
            "lines": [{"sku": sku, "quantity": quantity, "unit_amount": price}],
            "due_date": later,
        }
    elif category == "Subscription":
        data |= {
            "customer": person(rng),
            "plan": rng.choice(["team", "business", "enterprise"]),
            "interval": rng.choice(["month", "year"]),
            "current_period_end": later,
        }
    else:
        data |= {
            "user": person(rng)
            | {"locale": rng.choice(["en-US", "de-DE", "fr-FR", "ja-JP", "pt-BR"])},
            "source": rng.choice(["signup_form", "sso", "invite", "api"]),
        }
    return data
