"""CSV import of contacts: parse, plan (the dry run), apply in batches. Consent first.

- `parsing`: `import_parse` reads the uploaded file into rows (`ParsedFile`, `ImportRow`),
  each validated for the report; `ImportFileError` when the file as a whole can't be used;
  the limits, encodings and header aliases; `tag_names_clean`.
- `deciding`: the rules (`_decide`: never re-subscribe, never store a suppressed address,
  consent date or double opt-in), the options (`ImportOptions`, `Mode`) and
  `import_preview`, the dry run that decides every row without writing anything.
- `applying`: `import_apply` makes the same decisions again under row locks and writes
  them, one durable transaction per batch, publishing or deferring the confirmation mails.
- `report`: `ImportReport`, one `RowResult` (outcome and reason) per row, and its CSV.

Callers import from here (`from contacts import importing`, `from contacts.importing import
X`). A test that replaces a module-level name patches the module that looks it up, not this
package: `deciding.BATCH_SIZE`, for instance, is the one `_batches` reads.
"""

from contacts.importing.applying import IMPORT_FORM_NAME, import_apply
from contacts.importing.deciding import BATCH_SIZE, ImportOptions, Mode, import_preview
from contacts.importing.parsing import (
    ENCODINGS,
    HEADER_ALIASES,
    MAX_FILE_BYTES,
    MAX_ROWS,
    REFUSED_STATUSES,
    TAG_MAX_LENGTH,
    ImportFileError,
    ImportRow,
    ParsedFile,
    import_parse,
    tag_names_clean,
)
from contacts.importing.report import ImportReport, Outcome, RowResult, report_csv_rows

__all__ = [
    "BATCH_SIZE",
    "ENCODINGS",
    "HEADER_ALIASES",
    "IMPORT_FORM_NAME",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "REFUSED_STATUSES",
    "TAG_MAX_LENGTH",
    "ImportFileError",
    "ImportOptions",
    "ImportReport",
    "ImportRow",
    "Mode",
    "Outcome",
    "ParsedFile",
    "RowResult",
    "import_apply",
    "import_parse",
    "import_preview",
    "report_csv_rows",
    "tag_names_clean",
]
