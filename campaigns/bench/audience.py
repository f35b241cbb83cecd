"""A realistic audience as COPY text: profiles, then their events in time order.

The same seed and sizes give the same audience (times relative to ``now``). Profiles come
first; the few facts their events need stay in compact arrays. Each profile's share of
the events follows how busy it is and how long it was active in the last ``DAYS`` (some
signed up recently, some churned, some are dormant), rounded so the total is exact. Its
events come in sessions (App Launched, browsing, carts, purchases), sorted by day and
then by time, so event ids grow with time as in a live table.

Tens of millions of rows are made in Python, so the hot paths draw with ``random()``
(``randrange`` and ``choices`` cost several times more) and reuse pre-built JSON texts.
"""

import base64
import bisect
import itertools
import random
from array import array
from collections.abc import Iterator
from datetime import UTC, date, datetime

from campaigns.bench import catalogue

DAYS = 90
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
# Lines per block handed to COPY.
BLOCK = 20_000

PROFILE_COLUMNS = [
    "id", "identity", "email", "object_id", "push_token", "properties", "created_at",
    "updated_at",
]  # fmt: skip
# The time first: the lines of a day then sort as text into time order.
EVENT_COLUMNS = ["occurred_at", "name", "properties", "profile_id"]

CURRENCIES = list(catalogue.RATES)
PLATFORMS = [name for name, _ in catalogue.PLATFORMS]


class Audience:
    """``profiles()`` then ``events()``: blocks of COPY text lines for each table."""

    def __init__(self, profiles: int, events: int, seed: int, now: datetime):
        self.size, self.event_count = profiles, events
        self.rng = random.Random(seed)
        self.now = int(now.timestamp() * 1000)
        self.today = now.astimezone(UTC).date().toordinal()
        self.window_start = self.now - DAYS * DAY_MS
        # What events need of each profile, in arrays: a million profiles take ~30 MB.
        self.active_from = array("q")
        self.active_until = array("q")
        self.busy = array("d")
        self.platform = array("b")
        self.currency = array("b")
        self._minutes: dict[int, str] = {}
        self._days: dict[int, str] = {}
        self._products = _products(self.rng)
        self._prices: dict[str, list[tuple[str, str, str, float]]] = {}

    # Profiles

    def profiles(self) -> Iterator[list[str]]:
        rng, r = self.rng, self.rng.random
        countries, country_weights = _cumulative((c, c[1]) for c in catalogue.COUNTRIES)
        plans, plan_weights = _cumulative(catalogue.PLANS)
        platforms, platform_weights = _cumulative(catalogue.PLATFORMS)
        firsts, lasts = catalogue.FIRST_NAMES, catalogue.LAST_NAMES
        domains = catalogue.EMAIL_DOMAINS
        width = max(6, len(str(self.size)))
        block = []
        for pid in range(1, self.size + 1):
            first, last = firsts[int(r() * len(firsts))], lasts[int(r() * len(lasts))]
            country, _, cities, currency = _pick(countries, country_weights, r)
            plan = _pick(plans, plan_weights, r)
            platform = _pick(platforms, platform_weights, r)
            age = int(rng.triangular(16, 80, 29))
            signup = self._signup(r)
            start, until, busy = self._activity(r, signup)
            born = self._day(self.today - age * 365 - int(r() * 365))
            vip = "true" if r() < (0.25 if plan == "gold" else 0.01) else "false"
            # Clients do not always send everything.
            city = f', "city": "{cities[int(r() * len(cities))]}"' if r() >= 0.05 else ""
            aged = f', "age": {age}' if r() >= 0.03 else ""
            birthday = f', "birthday": "{born}"' if r() >= 0.04 else ""
            properties = (
                f'{{"name": "{first} {last}", "country": "{country}"{city}, "plan": "{plan}"'
                f'{aged}{birthday}, "signup_date": "{self._day(_EPOCH + signup // DAY_MS)}", '
                f'"vip": {vip}}}'
            )
            self.active_from.append(start)
            self.active_until.append(until)
            self.busy.append(busy)
            self.platform.append(PLATFORMS.index(platform))
            self.currency.append(CURRENCIES.index(currency))
            email = f"{first}.{last}{int(r() * 100)}@{domains[int(r() * len(domains))]}"
            block.append(
                f"{pid}\tuser-{pid:0{width}d}\t{email.lower()}\t{_uuid(rng)}"
                f"\t{_push_token(rng, platform)}\t{properties}\t{self._time(signup)}"
                f"\t{self._time(until if busy else signup)}\n"
            )
            if len(block) == BLOCK:
                yield block
                block = []
        if block:
            yield block

    def _signup(self, r) -> int:
        # A growing app: a quarter of the audience joined in the last 90 days, the rest
        # over the three years before.
        days = r() * DAYS if r() < 0.25 else DAYS + r() * (3 * 365 - DAYS)
        return self.now - int(days * DAY_MS)

    def _activity(self, r, signup: int) -> tuple[int, int, float]:
        """When the profile was active in the window, and how busy (0: dormant)."""
        start = max(signup, self.window_start)
        if signup < self.window_start and r() < 0.15:
            return start, start, 0.0  # nothing in the last 90 days
        until = self.now
        if r() < 0.2:  # churned somewhere in the window
            until = start + int(r() * (self.now - start))
        return start, until, self.rng.lognormvariate(0, 1.0)

    # Events

    def events(self) -> Iterator[list[str]]:
        """After ``profiles()``: the events, oldest day first."""
        r = self.rng.random
        days = [(array("I"), array("q"), array("H")) for _ in range(DAYS + 1)]
        for pid, count, start, until in self._counts():
            while count:
                # Visits of 1 to ~15 events, 2.7 on average.
                size = min(count, 1 + int(self.rng.expovariate(1 / 1.7)))
                count -= size
                at = start + int(r() * (until - start))
                pids, starts, sizes = days[min(DAYS, (at - self.window_start) // DAY_MS)]
                pids.append(pid)
                starts.append(at)
                sizes.append(size)
        for pids, starts, sizes in days:
            lines: list[str] = []
            for pid, at, size in zip(pids, starts, sizes, strict=True):
                self._visit(lines, pid, at, size)
            lines.sort()
            for offset in range(0, len(lines), BLOCK):
                yield lines[offset : offset + BLOCK]

    def _counts(self) -> Iterator[tuple[int, int, int, int]]:
        """Each active profile's number of events: cumulative rounding makes the total
        exactly ``event_count``."""
        spans = [
            busy * (until - start)
            for busy, start, until in zip(
                self.busy, self.active_from, self.active_until, strict=True
            )
        ]
        total = sum(spans)
        if not total:
            if self.event_count:
                raise ValueError("no profile is active in the window: seed more profiles")
            return
        scale = self.event_count / total
        cumulative, given = 0.0, 0
        for index, span in enumerate(spans):
            if span:
                cumulative += span * scale
                upto = min(self.event_count, round(cumulative))
                if upto > given:
                    yield index + 1, upto - given, self.active_from[index], self.active_until[index]
                    given = upto
        if given < self.event_count:  # float rounding short of the total
            yield index + 1, self.event_count - given, self.active_from[index], self.now

    def _visit(self, lines: list[str], pid: int, at: int, size: int) -> None:
        """Append ``size`` events of one visit starting at ``at``, in time order."""
        r, stamp = self.rng.random, self._stamp
        platform = PLATFORMS[self.platform[pid - 1]]
        currency = CURRENCIES[self.currency[pid - 1]]
        products = self._priced(currency)
        launched = _LAUNCHED[platform][min(4, int(self.rng.expovariate(1.2)))]
        if size > 1 and r() < 0.3:  # opened from a push notification
            opened = at - 2000 - int(r() * 88_000)
            pushed = _PUSHED[int(r() * len(_PUSHED))]
            lines.append(f"{stamp(opened)}\tNotification Viewed\t{pushed}\t{pid}\n")
            size -= 1
        lines.append(f"{stamp(at)}\tApp Launched\t{launched}\t{pid}\n")
        clock, product, cart, size = at, None, None, size - 1
        while size:
            size -= 1
            clock = self._later(clock, 5000 + int(r() * 295_000))
            roll = r()
            if cart is not None:
                # Most carts are paid within minutes, some much later, some never.
                if roll < 0.55:
                    if roll > 0.47:  # came back later
                        clock = self._later(clock, HOUR_MS + int(r() * 29 * HOUR_MS))
                    lines.append(f"{stamp(clock)}\tCharged\t{_charged(r, cart, currency)}\t{pid}\n")
                    cart = None
                    continue
                cart, roll = None, r()
            if roll < 0.5 or product is None:
                product = products[int(r() * len(products))]
                lines.append(f"{stamp(clock)}\tProduct Viewed\t{product[0]}\t{pid}\n")
            elif roll < 0.72:
                quantity = 1 if r() < 0.8 else 2 + int(r() * 3)
                cart = (product, quantity)
                sku, category, price = product[1:]
                cart_text = (
                    f'{{"product_id": "{sku}", "category": "{category}", "price": {price}, '
                    f'"quantity": {quantity}}}'
                )
                lines.append(f"{stamp(clock)}\tAdded To Cart\t{cart_text}\t{pid}\n")
            elif roll < 0.86:
                clock = self._later(clock, 10 * MINUTE_MS + int(r() * 11 * HOUR_MS))
                viewed = _VIEWED[int(r() * len(_VIEWED))]
                lines.append(f"{stamp(clock)}\tNotification Viewed\t{viewed}\t{pid}\n")
            elif roll < 0.98:
                clock = self._later(clock, HOUR_MS + int(r() * 19 * HOUR_MS))
                lines.append(f"{stamp(clock)}\tApp Launched\t{launched}\t{pid}\n")
            else:
                flight = self._flight(clock, catalogue.RATES[currency])
                lines.append(f"{stamp(clock)}\tFlight Booked\t{flight}\t{pid}\n")

    def _later(self, clock: int, step: int) -> int:
        # Never in the future: a step past now lands somewhere before it instead.
        if clock + step < self.now:
            return clock + step
        return clock + int((self.now - clock) * self.rng.random())

    def _priced(self, currency: str) -> list[tuple[str, str, str, float]]:
        """The product catalogue in ``currency``: (viewed JSON, sku, category, price)."""
        priced = self._prices.get(currency)
        if priced is None:
            rate = catalogue.RATES[currency]
            priced = self._prices[currency] = []
            for sku, category, dollars in self._products:
                price = round(dollars * rate, 2)
                text = f'{{"product_id": "{sku}", "category": "{category}", "price": {price}}}'
                priced.append((text, sku, category, price))
        return priced

    def _flight(self, clock: int, rate: float) -> str:
        r = self.rng.random
        airports = catalogue.AIRPORTS
        origin = airports[int(r() * len(airports))]
        destination = airports[int(r() * len(airports))]
        if destination == origin:
            destination = airports[airports.index(origin) - 1]
        flight = self._day(_EPOCH + clock // DAY_MS + 3 + int(r() * 117))
        fare = round(self.rng.lognormvariate(5.9, 0.5) * rate, 2)
        return (
            f'{{"origin": "{origin}", "destination": "{destination}", '
            f'"flight_date": "{flight}", "fare": {fare}}}'
        )

    def _stamp(self, ms: int) -> str:
        # Events cluster in minutes; the prefix of a minute is cached.
        minute, rest = divmod(ms, MINUTE_MS)
        prefix = self._minutes.get(minute)
        if prefix is None:
            if len(self._minutes) > 200_000:
                self._minutes.clear()
            prefix = self._minutes[minute] = self._time(minute * MINUTE_MS)[:-5]
        seconds, millis = divmod(rest, 1000)
        return f"{prefix}{seconds:02d}.{millis:03d}+00"

    def _time(self, ms: int) -> str:
        day, rest = divmod(ms, DAY_MS)
        hours, rest = divmod(rest, HOUR_MS)
        minutes, rest = divmod(rest, MINUTE_MS)
        return f"{self._day(_EPOCH + day)} {hours:02d}:{minutes:02d}:{rest // 1000:02d}+00"

    def _day(self, ordinal: int) -> str:
        text = self._days.get(ordinal)
        if text is None:
            text = self._days[ordinal] = date.fromordinal(ordinal).isoformat()
        return text


_EPOCH = date(1970, 1, 1).toordinal()


def _cumulative(pairs):
    pairs = list(pairs)
    return [item for item, _ in pairs], list(itertools.accumulate(w for _, w in pairs))


def _pick(items: list, cumulative: list, r):
    return items[bisect.bisect(cumulative, r() * cumulative[-1])]


def _products(rng) -> list[tuple[str, str, float]]:
    """(sku, category, dollar price); cheap categories have more products."""
    categories, weights = _cumulative((c, 1 / c[1] ** 0.5) for c in catalogue.CATEGORIES)
    products = []
    for number in range(catalogue.PRODUCTS):
        category, typical = _pick(categories, weights, rng.random)
        price = round(typical * rng.lognormvariate(0, 0.5), 2)
        products.append((f"sku-{number:05d}", category, price))
    return products


def _uuid(rng) -> str:
    text = rng.randbytes(16).hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _push_token(rng, platform: str) -> str:
    # A quarter of app users turned notifications off; web users have none.
    if platform == "web" or rng.random() < 0.25:
        return ""
    if platform == "ios":
        return rng.randbytes(32).hex()  # an APNs device token
    raw = base64.urlsafe_b64encode(rng.randbytes(117)).decode()
    return f"{raw[:22]}:APA91b{raw[22:]}"  # an FCM registration token


def _charged(r, cart, currency: str) -> str:
    (_, _, category, price), quantity = cart
    amount = round(price * quantity * (1 + 0.3 * r()), 2)  # with shipping and taxes
    return (
        f'{{"amount": {amount}, "currency": "{currency}", "category": "{category}", '
        f'"items": {quantity}}}'
    )


_LAUNCHED = {
    platform: [
        f'{{"platform": "{platform}", "app_version": "{version}"}}'
        for version in catalogue.APP_VERSIONS
    ]
    for platform in PLATFORMS
}
_VIEWED = [
    f'{{"channel": "{channel}", "campaign_id": {campaign}}}'
    for channel, weight in catalogue.CHANNELS
    for campaign in range(1, catalogue.CAMPAIGNS + 1, 400 // weight)
]
_PUSHED = [text for text in _VIEWED if '"push"' in text]
