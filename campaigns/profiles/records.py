"""Profiles in: upsert them by identity and record what they did.

The profiles API, the events API's user events (campaigns.user_events) and any
import write through here, so a profile is stored the same way whichever way it came.
Callers validate first (the API's ProfileIn and EventIn do); this module stores.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Profile, ProfileEvent

# Fields a client sets outright; properties are merged instead.
FIELDS = ("email", "object_id", "push_token")


@dataclass(frozen=True)
class Upserted:
    created: list[str]  # identities, in the order first sent
    updated: list[str]


def upsert_profiles(profiles: Iterable[Mapping[str, Any]]) -> Upserted:
    """Create or update profiles by ``identity``, all in one transaction.

    Each mapping holds an ``identity`` and any of ``email``, ``object_id``, ``push_token``
    (None or "" clears one) and ``properties``, merged into the stored properties key by
    key (top level), where a key whose value is None is removed. Fields left out keep
    their stored value. A repeated identity applies its changes in order. Emails are
    stored lower-cased, so a search finds them however they were typed.
    """
    changes: dict[str, dict[str, Any]] = {}
    for item in profiles:
        change = changes.setdefault(item["identity"], {"properties": {}})
        for field in FIELDS:
            if field in item:
                change[field] = _clean(field, item[field])
        change["properties"].update(item.get("properties") or {})
    try:
        with transaction.atomic():
            return _apply(changes)
    except IntegrityError:
        # A concurrent request created one of the identities first: it is committed
        # now, so this time it is found and updated.
        with transaction.atomic():
            return _apply(changes)


def record_event(
    identity: str, name: str, properties: dict, occurred_at: datetime | None = None
) -> ProfileEvent:
    """Record that the profile ``identity`` did ``name``, creating a bare profile if new."""
    profile, _ = Profile.objects.get_or_create(identity=identity)
    return ProfileEvent.objects.create(
        profile=profile,
        name=name,
        properties=properties or {},
        occurred_at=occurred_at or timezone.now(),
    )


def _apply(changes: dict[str, dict[str, Any]]) -> Upserted:
    # Locked in id order, so two batches touching the same profiles cannot deadlock.
    stored = Profile.objects.select_for_update().filter(identity__in=list(changes)).order_by("pk")
    existing = {profile.identity: profile for profile in stored}
    now = timezone.now()
    new, changed = [], []
    for identity, change in changes.items():
        profile = existing.get(identity) or Profile(identity=identity)
        for field in FIELDS:
            if field in change:
                setattr(profile, field, change[field])
        profile.properties = _merged(profile.properties, change["properties"])
        if profile.pk is None:
            new.append(profile)
        else:
            profile.updated_at = now  # bulk_update does not apply auto_now
            changed.append(profile)
    # Inserted in identity order too: two batches creating the same identities wait for
    # each other in the same order instead of deadlocking.
    Profile.objects.bulk_create(sorted(new, key=lambda profile: profile.identity))
    Profile.objects.bulk_update(changed, [*FIELDS, "properties", "updated_at"])
    return Upserted(
        created=[profile.identity for profile in new],
        updated=[profile.identity for profile in changed],
    )


def _merged(stored: dict, patch: dict) -> dict:
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _clean(field: str, value: str | None) -> str:
    value = value or ""
    return value.strip().lower() if field == "email" else value
