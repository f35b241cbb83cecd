"""The demo audience of ``make run``: people, what they did in the app over the last 60
days, and saved segments that select some of them (``load_demo_audience``), plus a trickle
of new activity (``demo_audience_traffic``).

Everything is drawn from one ``random.Random``, so a seed and a moment give the same
audience every time.
"""

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import models, transaction
from django.utils import timezone

from campaigns import sending
from campaigns.demo_catalogue import (
    APP_VERSIONS,
    CAMPAIGNS,
    COUNTRIES,
    HABITS,
    NAMES,
    PAYMENT,
    PLANS,
    PLATFORMS,
    PRODUCTS,
    SEARCHES,
    SEGMENTS,
    TOKEN_ALPHABET,
    Country,
)
from campaigns.models import Profile, ProfileEvent, Segment
from campaigns.segments import rules

SEED = 2026
PROFILES = 2500
DAYS = 60
# Identities are customer numbers from here on; the first one tells the demo is loaded.
FIRST_NUMBER = 1_000_001
BATCH = 1000


def _weighted(rng: random.Random, choices: list):
    weights = [c.weight if isinstance(c, Country) else c[1] for c in choices]
    return rng.choices(choices, weights=weights)[0]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def identity(number: int) -> str:
    return f"C{number}"


def _birthday(rng: random.Random, age: int, today: date, on_today: bool) -> date:
    if on_today:
        month, day = today.month, today.day
    else:
        month, day = rng.randint(1, 12), rng.randint(1, 28)
    year = today.year - age - (1 if (month, day) > (today.month, today.day) else 0)
    while month == 2 and day == 29 and not _leap(year):  # born on a 29th of February
        year -= 1
    return date(year, month, day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@dataclass
class DemoProfile:
    profile: Profile
    habit: tuple
    signed_up: datetime


def make_profile(rng: random.Random, number: int, now: datetime, emails: set) -> DemoProfile:
    """One person with demographics, and how often they use the app."""
    country = _weighted(rng, COUNTRIES)
    firsts, lasts = NAMES[country.names]
    first, last = rng.choice(firsts.split()), rng.choice(lasts.split())
    email = f"{_ascii(first)}.{_ascii(last)}@{rng.choice(country.domains.split())}"
    while email in emails:
        local, domain = email.split("@")
        email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(2, 999)}@{domain}"
    emails.add(email)
    age = int(rng.triangular(18, 72, 31))
    # Some profiles have their birthday today, so "Birthdays today" always has members.
    birthday = _birthday(rng, age, now.date(), on_today=number % 300 == 0)
    # A tenth joined within the demo's 60 days; the rest up to three years ago.
    days_ago = rng.uniform(1, DAYS) if rng.random() < 0.1 else rng.uniform(DAYS, 3 * 365)
    signed_up = now - timedelta(days=days_ago)
    platform = _weighted(rng, PLATFORMS)[0]
    properties = {
        "name": f"{first} {last}",
        "country": country.name,
        "city": rng.choice(country.cities.split(", ")),
        "plan": _weighted(rng, PLANS)[0],
        "age": age,
        "birthday": birthday.isoformat(),
        "signup_date": signed_up.date().isoformat(),
        "platform": platform,
        "currency": country.currency,
        "email_opt_in": rng.random() < 0.7,
    }
    token = ""
    if platform != "Web" and rng.random() < 0.85:
        head = "".join(rng.choices(TOKEN_ALPHABET, k=22))
        token = f"{head}:APA91b" + "".join(rng.choices(TOKEN_ALPHABET, k=134))
    profile = Profile(
        identity=identity(number),
        email=email,
        object_id=f"__g{rng.getrandbits(128):032x}",
        push_token=token,
        properties=properties,
        created_at=signed_up,
    )
    return DemoProfile(profile, _weighted(rng, HABITS), signed_up)


def session(rng: random.Random, properties: dict, start: datetime) -> list[tuple]:
    """One visit to the app from ``start``: (name, properties, time) in order."""
    country = properties.get("country")
    currency = properties.get("currency", "USD")
    rate = next((c.per_usd for c in COUNTRIES if c.name == country), 1)
    at = start
    events = []

    def add(name: str, **props):
        nonlocal at
        events.append((name, props, at))
        at += timedelta(seconds=rng.randint(4, 150))

    if rng.random() < 0.25:
        add("Notification Viewed", campaign=rng.choice(CAMPAIGNS), channel="push")
        if rng.random() < 0.4:
            add("Notification Clicked", campaign=events[-1][1]["campaign"], channel="push")
    add(
        "App Launched",
        platform=properties.get("platform", "Android"),
        app_version=rng.choice(APP_VERSIONS),
    )
    if rng.random() < 0.2:
        add("Searched", query=rng.choice(SEARCHES))
    cart = []
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        name, category, price = rng.choice(PRODUCTS)
        local_price = _price(price * rate, currency)
        add("Product Viewed", product=name, category=category, price=local_price, currency=currency)
        if rng.random() < 0.3:
            cart.append(local_price)
            add("Added To Cart", product=name, price=local_price, currency=currency, quantity=1)
    if cart and rng.random() < 0.55:
        add(
            "Charged",
            amount=_price(sum(cart), currency),
            currency=currency,
            items=len(cart),
            payment_method=rng.choice(PAYMENT.get(country, ["card", "card", "paypal"])),
            order_id=f"ORD-{rng.randint(100000, 999999)}",
        )
    return events


def _price(amount: float, currency: str) -> float | int:
    return round(amount) if currency in ("JPY", "NGN", "INR") else round(amount, 2)


def history(rng: random.Random, person: DemoProfile, now: datetime) -> list[ProfileEvent]:
    """What ``person`` did over the last 60 days, by their habit."""
    _, _, (low, high), (quiet_low, quiet_high) = person.habit
    share = rng.uniform(low, high)
    quiet_since = rng.randint(quiet_low, quiet_high)
    first_day = min(DAYS, int((now - person.signed_up).days))
    events = []
    for days_ago in range(first_day, quiet_since - 1, -1):
        if rng.random() >= share:
            continue
        day = (now - timedelta(days=days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(1 if rng.random() < 0.9 else 2):
            start = day + timedelta(seconds=rng.randint(7 * 3600, 23 * 3600))
            if start <= person.signed_up:
                continue
            for name, props, at in session(rng, person.profile.properties, start):
                if at < now:
                    events.append(
                        ProfileEvent(
                            profile_id=person.profile.pk,
                            name=name,
                            properties=props,
                            occurred_at=at,
                        )
                    )
    return events


def is_loaded() -> bool:
    return Profile.objects.filter(identity=identity(FIRST_NUMBER)).exists()


@dataclass
class Loaded:
    profiles: int
    events: int
    segments: int


@transaction.atomic
def load(count: int = PROFILES, seed: int = SEED, now: datetime | None = None) -> Loaded:
    """Create the demo audience (``count`` profiles, their events, the demo segments)
    unless it is there already; returns what was created."""
    if is_loaded():
        return Loaded(0, 0, 0)
    now = now or timezone.now()
    rng = random.Random(seed)
    emails = set(Profile.objects.values_list("email", flat=True))
    people = [make_profile(rng, FIRST_NUMBER + n, now, emails) for n in range(count)]
    profiles = [p.profile for p in people]
    Profile.objects.bulk_create(profiles, batch_size=BATCH)
    # auto_now_add stamped them all "now"; the demo's profiles joined over three years.
    for person in people:
        person.profile.created_at = person.signed_up
    Profile.objects.bulk_update(profiles, ["created_at"], batch_size=BATCH)
    events = 0
    batch = []
    for person in people:
        batch.extend(history(rng, person, now))
        if len(batch) >= 5 * BATCH:
            events += len(ProfileEvent.objects.bulk_create(batch, batch_size=BATCH))
            batch = []
    events += len(ProfileEvent.objects.bulk_create(batch, batch_size=BATCH))
    return Loaded(count, events, _load_segments())


def _load_segments() -> int:
    """Create the demo segments that are missing; returns how many were created."""
    created = 0
    for name, description, rule in SEGMENTS:
        rules.parse(rule)  # a demo rule that does not parse is a bug here, not a bad page
        _, made = Segment.objects.get_or_create(
            name=name, defaults={"description": description, "rule": rule}
        )
        created += made
    return created


def _random_profile(rng: random.Random) -> Profile | None:
    """A profile picked by a random id: one index lookup, however many profiles exist."""
    bounds = Profile.objects.order_by().aggregate(low=models.Min("pk"), high=models.Max("pk"))
    if bounds["low"] is None:
        return None
    pk = rng.randint(bounds["low"], bounds["high"])
    return Profile.objects.filter(pk__gte=pk).order_by("pk").first()


def _next_number() -> int:
    """The customer number after the highest demo one (a walk down the identity index)."""
    latest = Profile.objects.filter(identity__gte="C", identity__lte="C9999999")
    for found in latest.order_by("-identity").values_list("identity", flat=True)[:100]:
        if found[1:].isdigit() and len(found) == 8:
            return int(found[1:]) + 1
    return FIRST_NUMBER


class _TakenEmails:
    """The e-mail addresses already in use, asked one at a time."""

    def __contains__(self, email: str) -> bool:
        return Profile.objects.filter(email=email).exists()

    def add(self, email: str) -> None:
        pass


@dataclass
class Tick:
    events: int
    new_profile: str | None


@transaction.atomic
def tick(rng: random.Random, now: datetime | None = None, new_profile_chance: float = 0.1) -> Tick:
    """A moment of live traffic: a short visit by a few random profiles, and now and then
    a new demo profile signing up (with its first launch)."""
    now = now or timezone.now()
    visitors = [p for p in (_random_profile(rng) for _ in range(rng.randint(1, 3))) if p]
    joined = None
    if rng.random() < new_profile_chance:
        person = make_profile(rng, _next_number(), now, emails=_TakenEmails())
        person.profile.properties["signup_date"] = now.date().isoformat()
        person.profile.save()
        visitors.append(person.profile)
        joined = person.profile.identity
    events = []
    for profile in visitors:
        # Visits end about now: started a few minutes ago, none in the future.
        start = now - timedelta(seconds=rng.randint(60, 600))
        events += [
            ProfileEvent(profile=profile, name=name, properties=props, occurred_at=min(at, now))
            for name, props, at in session(rng, profile.properties, start)
        ]
    ProfileEvent.objects.bulk_create(events)
    for event in events:
        sending.queue_live(event)  # as the events API does: live triggers (demo_campaigns)
    return Tick(len(events), joined)
