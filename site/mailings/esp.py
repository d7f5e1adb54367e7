"""What each ESP's batch API can do, and the one backend we extend to batch without templates.

A batch is one Anymail message to many `to` addresses with `merge_data` set (each recipient
gets their own message at the ESP; without `merge_data` one message would show every
address). Per-recipient `List-Unsubscribe`/`List-Unsubscribe-Post` need `merge_headers`, and a
per-recipient unsubscribe link in the body needs the ESP to merge fields into inline content.
`BATCH_SUPPORT` lists the backends where both hold (Anymail's per-ESP docs, "Batch sending"
and "merge_headers"); any other backend (SMTP, console, Amazon SES and Brevo, which merge
only stored templates, MailerSend, Mandrill, Postal, Scaleway without merge_headers) gets one
message per recipient through the single-mail path.

Postmark merges fields only into stored templates, but its batch API (`/email/batch`, 500
messages a call) takes a complete message per recipient. `PostmarkBatchBackend` fills the
merge fields in on our side while Anymail builds that call: one API call, each recipient's
own body and headers, no stored template. `mailings.connection` uses it in place of Anymail's
Postmark backend (it behaves the same for every message without `merge_fields`).
"""

from dataclasses import dataclass
from typing import Any

from anymail.backends.postmark import EmailBackend as PostmarkBackend
from anymail.backends.postmark import PostmarkPayload


@dataclass(frozen=True)
class BatchSupport:
    #: How a merge field is written in the body for this ESP ("{}" is the field name).
    merge_field: str
    #: Recipients per API call that the ESP accepts (MAIL_BATCH_SIZE is capped by it).
    max_recipients: int
    #: The fields are filled in on our side (`message.merge_fields`), not by the ESP.
    client_merge: bool = False


#: Backends (dotted path) that batch with per-recipient headers and body fields.
BATCH_SUPPORT: dict[str, BatchSupport] = {
    "anymail.backends.postmark.EmailBackend": BatchSupport("{{{{{}}}}}", 500, client_merge=True),
    "mailings.esp.PostmarkBatchBackend": BatchSupport("{{{{{}}}}}", 500, client_merge=True),
    "anymail.backends.sendgrid.EmailBackend": BatchSupport(":{}", 1000),
    "anymail.backends.mailjet.EmailBackend": BatchSupport("[[var:{}]]", 50),
    # Anymail's test backend records the batch as one outbox item (unit tests).
    "anymail.backends.test.EmailBackend": BatchSupport("{{{{{}}}}}", 1000),
}

#: Backends replaced by a subclass that merges on our side (see the module docstring).
UPGRADES = {"anymail.backends.postmark.EmailBackend": "mailings.esp.PostmarkBatchBackend"}


def batch_support(backend_path: str) -> BatchSupport | None:
    return BATCH_SUPPORT.get(backend_path)


class _MergingPostmarkPayload(PostmarkPayload):
    """Postmark's batch payload with `message.merge_fields[addr_spec]` filled into the bodies."""

    def data_for_recipient(self, to: Any) -> dict[str, Any]:
        data = super().data_for_recipient(to)
        fields = getattr(self.message, "merge_fields", {}).get(to.addr_spec)
        if fields:
            for part in ("HtmlBody", "TextBody"):
                if part in data:
                    text = data[part]
                    for name, value in fields.items():
                        text = text.replace("{{%s}}" % name, value)  # noqa: UP031 (braces)
                    data[part] = text
        return data


class PostmarkBatchBackend(PostmarkBackend):
    """Anymail's Postmark backend; a message with `merge_fields` is merged on our side."""

    def build_message_payload(self, message: Any, defaults: Any) -> PostmarkPayload:
        if getattr(message, "merge_fields", None):
            return _MergingPostmarkPayload(message, defaults, self)
        return super().build_message_payload(message, defaults)
