"""The audit log's one writer: `audit_record(actor=request.user, action=..., detail={...})`."""

import logging
from typing import Any

from core.models import AuditEntry

logger = logging.getLogger("core.audit")


def audit_record(
    *, actor: Any, action: str, detail: dict[str, Any] | None = None, object_repr: str = ""
) -> AuditEntry:
    """Append one entry to the audit log and mirror it to the `core.audit` logger.

    `actor` is a user (request.user), an anonymous user or None (a system job). `detail` must
    be JSON-serialisable (dates and decimals are fine) and should hold ids and counts, never
    an address in clear: callers redact search terms and file contents. Runs in the caller's
    transaction when there is one, so an action that rolls back leaves no entry.
    """
    user = actor if getattr(actor, "is_authenticated", False) else None
    entry = AuditEntry.objects.create(
        actor=user,
        actor_name=user.get_username()[:150] if user is not None else "",
        action=action[:40],
        object_repr=object_repr[:200],
        detail=detail or {},
    )
    logger.info("audit %s by %s: %s", action, entry.actor_name or "system", object_repr)
    return entry
