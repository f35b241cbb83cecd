"""Sortable list pages (the delivery log, the campaign list): the ``sort`` parameter.

A FilterSet declares ``sort = sort_filter(sort_choices(...))`` so a bad value is a form
error, and derives from ``SortedFilterSet`` for the ordering it asks for; the keyset
paginator (``config/keyset.py``) applies it. The column headers link to each sort with
``templates/includes/sort_link.html``.
"""

import django_filters


def sort_choices(columns: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The ``sort`` values of ``(key, label)`` columns: ``-key`` (descending) and ``key``."""
    return [
        (f"{direction}{key}", f"{label} ({'descending' if direction else 'ascending'})")
        for key, label in columns
        for direction in ("-", "")
    ]


def sort_filter(choices: list[tuple[str, str]]) -> django_filters.ChoiceFilter:
    """The ``sort`` filter: applied by the keyset paginator, declared so a bad value is
    a form error."""
    return django_filters.ChoiceFilter(choices=choices, method="keep", empty_label=None)


class SortedFilterSet(django_filters.FilterSet):
    """A FilterSet with a ``sort`` filter; ``default_sort`` applies when none is asked."""

    default_sort = ""

    def keep(self, queryset, name, value):
        return queryset

    @property
    def active(self) -> bool:
        """Whether any filter or search narrows the results (the sort does not)."""
        data = self.form.cleaned_data
        return any(v not in (None, "") for k, v in data.items() if k != "sort")

    @property
    def ordering(self) -> tuple[str, bool]:
        """(sort key, descending): the one asked for, else ``default_sort``."""
        value = self.form.cleaned_data.get("sort") or self.default_sort
        return value.lstrip("-"), value.startswith("-")
