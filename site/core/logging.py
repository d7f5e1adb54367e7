"""Log hygiene: no e-mail address reaches a log line in clear."""

import logging
import re

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")


def mask_email(text: str) -> str:
    """'ada.lovelace@example.org' -> 'a***@example.org'."""
    return _EMAIL.sub(r"\1***@\2", text)


class MaskEmailFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_email(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
