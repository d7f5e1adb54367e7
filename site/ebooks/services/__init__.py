"""eBook services: one PDF per guide and content version, rendered once, kept in
default_storage, and "Get the PDF", which mails it to a reader.

- `files`: the PDFs in storage: EbookFile, ebook_get_or_render (single-flight render and
  store), ebook_file_get, ebook_prune, ebook_rebuild, and the file a download link serves
  (ebook_file_for_download, ebook_file_open).
- `delivery`: "Get the PDF" below the cache: ebook_request_accept / _process / _create, the
  delivery mail, the `ebook_deliver` task's service, the sweeper, redelivery, download
  links, tokens and file names, and the download log.

Callers import from here (`from ebooks import services`, `from ebooks.services import X`).
A test that replaces a function patches the module that looks it up, not this package:
`delivery.ebook_get_or_render`, for instance, is the name ebook_request_deliver calls.
"""

from ebooks.services.delivery import (
    DELIVERY_TEMPLATE,
    DOWNLOAD_PURPOSE,
    EBOOK_REQUEST_KIND,
    EbookRequestOutcome,
    EbookRequestResult,
    ebook_download_filename,
    ebook_download_record,
    ebook_download_token,
    ebook_download_url,
    ebook_filename,
    ebook_request_accept,
    ebook_request_create,
    ebook_request_deliver,
    ebook_request_process,
    ebook_requests_redeliver,
    ebook_requests_requeue_stuck,
)
from ebooks.services.files import (
    EBOOK_ROOT,
    POLL_SECONDS,
    EbookBusyError,
    EbookFile,
    EbookGuideNotFoundError,
    ebook_file_find,
    ebook_file_for_download,
    ebook_file_get,
    ebook_file_open,
    ebook_get_or_render,
    ebook_prune,
    ebook_rebuild,
    ebook_storage_name,
)

__all__ = [
    "DELIVERY_TEMPLATE",
    "DOWNLOAD_PURPOSE",
    "EBOOK_REQUEST_KIND",
    "EBOOK_ROOT",
    "POLL_SECONDS",
    "EbookBusyError",
    "EbookFile",
    "EbookGuideNotFoundError",
    "EbookRequestOutcome",
    "EbookRequestResult",
    "ebook_download_filename",
    "ebook_download_record",
    "ebook_download_token",
    "ebook_download_url",
    "ebook_file_find",
    "ebook_file_for_download",
    "ebook_file_get",
    "ebook_file_open",
    "ebook_filename",
    "ebook_get_or_render",
    "ebook_prune",
    "ebook_rebuild",
    "ebook_request_accept",
    "ebook_request_create",
    "ebook_request_deliver",
    "ebook_request_process",
    "ebook_requests_redeliver",
    "ebook_requests_requeue_stuck",
    "ebook_storage_name",
]
