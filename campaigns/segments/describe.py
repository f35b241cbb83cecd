"""A segment's rule in a sentence, as the segment list, the builder's preview and the
campaign pages show it."""

from campaigns.segments import rules


def describe(rule: rules.Rule) -> str:
    """The rule in a sentence, as the list and the preview show it."""
    c = rule.category
    if c == "single_action":
        text = f"Did {rule.action.describe()} {rule.window.describe()}"
    elif c == "actions":
        text = "Did " + " and ".join(a.describe() for a in rule.actions)
        text += f" {rule.window.describe()}"
    elif c == "inaction_within_time":
        text = (
            f"Did {rule.action.describe()} {rule.window.describe()}, then not "
            f"{rule.missing.describe()} within {rule.within.describe()}"
        )
    elif c == "inaction":
        text = (
            f"Did {rule.action.describe()} {rule.window.describe()}, and never "
            f"{rule.missing.describe()} after"
        )
    elif c == "date_property":
        text = rule.date.describe()[:1].upper() + rule.date.describe()[1:]
    elif rule.action is None:
        text = "Anyone"
    else:
        verb = "Did" if rule.performed else "Did not do"
        text = f"{verb} {rule.action.describe()} {rule.window.describe()}"
    if rule.profile:
        text += ", with " + " and ".join(f.describe() for f in rule.profile)
    return text
