"""{% admin_dashboard %}: the growth dashboard on the admin index (templates/admin/index.html)."""

from typing import Any

from django import template

from analytics.views_admin import dashboard_context

register = template.Library()


@register.inclusion_tag("admin/analytics/dashboard.html", takes_context=True)
def admin_dashboard(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    return dashboard_context(request) if request is not None else {"show": False}
