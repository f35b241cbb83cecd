"""The campaign list's query contract: its search, filters and sorts."""

import django_filters

from campaigns.models import Campaign, CampaignStatus, DeliveryType
from config.sorting import SortedFilterSet, sort_choices, sort_filter

SORT_CHOICES = sort_choices(
    (
        ("created", "Created"),
        ("name", "Name"),
        ("status", "Status"),
        ("type", "Delivery type"),
        ("next_run", "Next run"),
    )
)


class CampaignFilterSet(SortedFilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices, empty_label="Any status")
    delivery_type = django_filters.ChoiceFilter(
        choices=DeliveryType.choices, empty_label="Any type", label="Delivery type"
    )
    sort = sort_filter(SORT_CHOICES)
    default_sort = "-created"  # newest first

    class Meta:
        model = Campaign
        fields = []

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(name__icontains=value) if value else queryset
