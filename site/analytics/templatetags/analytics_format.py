"""Number formatting for the admin's analytics pages: 12,345 · 3.4 % · "—" for no value."""

from django import template

register = template.Library()


@register.filter
def num(value: object) -> str:
    if value is None or value == "":
        return "—"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return f"{int(number):,}" if number.is_integer() else f"{number:,.1f}"


@register.filter
def pct(value: object, digits: int = 1) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value):.{int(digits)}f} %"  # type: ignore[arg-type]


@register.filter
def rate_of(part: object, whole: object) -> str:
    """part / whole as a percentage, "—" when whole is zero."""
    try:
        p, w = float(part), float(whole)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    return f"{100 * p / w:.2f} %" if w else "—"
