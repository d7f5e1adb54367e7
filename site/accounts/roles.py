"""Staff roles as code: each group and exactly the permissions it holds.

`roles_sync` (run by `manage.py sync_roles`) creates or updates the groups so that each holds
exactly the permissions listed here: permissions added by hand in the admin are removed, so
the code stays the one place that says what a role may do. Permissions are looked up by
"app_label.codename"; one that does not exist (an app not installed yet, a model renamed) is
skipped with a warning instead of failing the deploy.
"""

import logging
from dataclasses import dataclass, field

from django.contrib.auth.models import Group, Permission
from django.db import transaction

logger = logging.getLogger(__name__)

MARKETER = "Marketer"

#: Role name -> the permissions it needs, and nothing more. Marketers read and work on the
#: list (the contact admin's actions go through services, with the consent ledger), read the
#: ledger and the mails sent; they never delete contacts, touch suppressions, or see staff
#: accounts. Export and import are their own permissions (contacts.Contact Meta).
ROLES: dict[str, tuple[str, ...]] = {
    MARKETER: (
        "contacts.view_contact",
        "contacts.change_contact",
        "contacts.view_subscription",
        "contacts.change_subscription",
        "contacts.view_consentevent",
        "mailings.view_outboundmail",
        "contacts.export_contact",
        "contacts.import_contact",
        "contacts.tag_contact",
        "contacts.view_tag",
        "contacts.add_tag",
        "contacts.view_segment",
        "contacts.add_segment",
        "contacts.change_segment",
        "analytics.view_funnelreport",
        "ebooks.view_ebookrequest",
        "ebooks.view_ebookdownload",
        "ebooks.view_ebookfileproxy",
        "campaigns.view_campaign",
        "campaigns.add_campaign",
        "campaigns.change_campaign",
        "campaigns.send_campaign",
    ),
}


@dataclass
class RoleSyncResult:
    name: str
    created: bool
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _permission(label: str) -> Permission | None:
    app_label, _, codename = label.partition(".")
    return (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .select_related("content_type")
        .first()
    )


def _label(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


@transaction.atomic
def roles_sync(*, roles: dict[str, tuple[str, ...]] | None = None) -> list[RoleSyncResult]:
    """Create or update each role's group to hold exactly its listed permissions. Idempotent."""
    results = []
    for name, labels in (ROLES if roles is None else roles).items():
        group, created = Group.objects.get_or_create(name=name)
        result = RoleSyncResult(name=name, created=created)
        wanted = []
        for label in labels:
            permission = _permission(label)
            if permission is None:
                result.missing.append(label)
                logger.warning("role %s: permission %s does not exist; skipped", name, label)
            else:
                wanted.append(permission)
        current = {_label(p): p for p in group.permissions.select_related("content_type")}
        target = {_label(p): p for p in wanted}
        result.added = sorted(set(target) - set(current))
        result.removed = sorted(set(current) - set(target))
        if result.added or result.removed:
            group.permissions.set(wanted)
        results.append(result)
    return results
