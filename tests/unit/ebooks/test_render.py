"""The real eBook, rendered by WeasyPrint and read back with pypdf and poppler.

Each shipped guide is rendered once per module (a few seconds each); the fetcher tests
render tiny documents through the same engine.
"""

import http.server
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

import pytest
from pypdf import PdfReader
from pypdf.generic import Destination

from ebooks.render import (
    EbookFetchRefusedError,
    EbookRenderError,
    RenderedPdf,
    RestrictedURLFetcher,
    book_context,
    ebook_render,
    html_to_pdf,
    prefix_ids,
)
from guides.content import Guide, load_library

FIXED_NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


@dataclass(frozen=True)
class Book:
    guide: Guide
    rendered: RenderedPdf
    path: Path
    reader: PdfReader
    #: pdftotext -layout, one string per page (index 0 is page 1).
    pages: list[str]


def squash(text: str) -> str:
    """Lower-case text without whitespace: letter-spaced caps extract as 'C H A P T E R'."""
    return re.sub(r"\s+", "", text).lower()


@pytest.fixture(scope="module", params=["product-discovery", "modern-product-management"])
def book(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Book:
    guide = load_library().guide(request.param)
    assert guide is not None
    rendered = ebook_render(guide=guide, now=FIXED_NOW)
    path = tmp_path_factory.mktemp("ebook") / f"{guide.slug}.pdf"
    path.write_bytes(rendered.pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return Book(guide, rendered, path, PdfReader(path), text.split("\f")[: rendered.pages])


def outline(book: Book) -> list[tuple[int, str, int]]:
    """(level, title, 1-based page) for every bookmark, depth first."""
    found: list[tuple[int, str, int]] = []

    def walk(items: list, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
            else:
                assert isinstance(item, Destination)
                page = book.reader.get_destination_page_number(item) + 1
                found.append((level, str(item.title), page))

    walk(book.reader.outline, 1)
    return found


def chapter_start(book: Book, number: int, title: str) -> int:
    """The page whose text has the opener: 'Chapter N' right above the chapter title."""
    needle = squash(f"Chapter {number} {title}")
    hits = [i + 1 for i, text in enumerate(book.pages) if needle in squash(text)]
    assert len(hits) == 1, (number, title, hits)
    return hits[0]


def toc_text(book: Book) -> str:
    """The text of the contents pages, whitespace collapsed."""
    bookmarks = {title: page for _, title, page in outline(book)}
    pages = book.pages[bookmarks["Contents"] - 1 : bookmarks["Introduction"] - 1]
    return " ".join(" ".join(pages).split())


# -- The book -------------------------------------------------------------------------------


def test_page_count_is_plausible_and_pages_are_6_by_9_inches(book: Book):
    words = book.guide.word_count
    assert len(book.reader.pages) == book.rendered.pages
    # 6 x 9 in holds ~300 words of running text; lists, tables, openers and the blank
    # versos before right-hand chapter openings bring the average down to ~180.
    assert words / 400 < book.rendered.pages < words / 120
    box = book.reader.pages[10].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (432, 648)


def test_metadata_title_authors_subject_keywords_and_language(book: Book):
    meta = book.reader.metadata
    assert meta is not None
    assert meta.title == book.guide.ebook_title
    assert meta.author == ", ".join(book.guide.authors)
    assert meta.subject == book.guide.description
    assert book.guide.title in str(meta["/Keywords"])
    root = book.reader.trailer["/Root"]
    assert root["/Lang"] == book.guide.language
    assert root["/PageMode"] == "/UseOutlines"


def test_pdf_ua_tagging_is_present(book: Book):
    root = book.reader.trailer["/Root"]
    assert "/StructTreeRoot" in root
    assert root["/MarkInfo"]["/Marked"].value is True
    assert root["/ViewerPreferences"]["/DisplayDocTitle"].value is True
    xmp = root["/Metadata"].get_object().get_data()
    assert b"pdfuaid:part" in xmp
    assert book.guide.ebook_title.encode() in xmp


def test_every_chapter_title_is_in_the_text(book: Book):
    text = squash("".join(book.pages))
    for chapter in book.guide.chapters:
        assert squash(chapter.title) in text, chapter.title
        assert squash(chapter.summary) in text, chapter.summary


def test_outline_has_every_chapter_and_its_sections(book: Book):
    items = outline(book)
    top = [title for level, title, _ in items if level == 1]
    expected = [f"{c.number}. {c.title}" for c in book.guide.chapters]
    assert top == ["Contents", "Introduction", *expected]
    for chapter in book.guide.chapters:
        label = f"{chapter.number}. {chapter.title}"
        at = next(i for i, item in enumerate(items) if item[1] == label)
        children = []
        for level, title, _ in items[at + 1 :]:
            if level == 1:
                break
            children.append(title)
        assert children == [h.text for h in chapter.sections]
    assert max(level for level, _, _ in items) == 2


def test_contents_page_numbers_match_where_chapters_really_start(book: Book):
    toc = toc_text(book)
    bookmarks = {title: page for _, title, page in outline(book)}
    for chapter in book.guide.chapters:
        match = re.search(rf"{chapter.number} {re.escape(chapter.title)}[ .]*?(\d+)\b", toc)
        assert match, chapter.title
        printed = int(match[1])
        start = chapter_start(book, chapter.number, chapter.title)
        assert printed == start, chapter.title
        assert start % 2 == 1, "chapters open on a right-hand (odd) page"
        assert bookmarks[f"{chapter.number}. {chapter.title}"] == start
        # The folio printed at the foot of the opener is the same number.
        assert book.pages[start - 1].strip().splitlines()[-1].strip() == str(start)


def test_section_page_numbers_in_contents_match_their_bookmarks(book: Book):
    toc = toc_text(book)
    items = outline(book)
    for chapter in book.guide.chapters:
        label = f"{chapter.number}. {chapter.title}"
        at = next(i for i, item in enumerate(items) if item[1] == label)
        sections = items[at + 1 : at + 1 + len(chapter.sections)]
        position = toc.index(f"{chapter.number} {chapter.title}")
        for _, title, page in sections:
            match = re.compile(rf"{re.escape(title)}[ .]*?(\d+)\b").search(toc, position)
            assert match, title
            assert int(match[1]) == page, title
            position = match.end()


def test_contents_links_jump_to_the_chapters(book: Book):
    names = book.reader.named_destinations
    for chapter in book.guide.chapters:
        anchor = f"c{chapter.number:02d}"
        page = book.reader.get_destination_page_number(names[anchor]) + 1
        assert page == chapter_start(book, chapter.number, chapter.title)
        for heading in chapter.sections:
            assert f"{anchor}-{heading.anchor}" in names
    toc_page = book.reader.pages[{t: p for _, t, p in outline(book)}["Contents"] - 1]
    annotations = [a.get_object() for a in toc_page.get("/Annots", [])]
    targets = {str(a["/Dest"]) for a in annotations if a["/Subtype"] == "/Link"}
    assert {"c01", f"c01-{book.guide.chapters[0].sections[0].anchor}"} <= targets


def test_running_heads_guide_left_chapter_right_none_on_openers(book: Book):
    chapter = book.guide.chapters[0]
    start = chapter_start(book, chapter.number, chapter.title)
    opener = squash(book.pages[start - 1])
    assert opener.startswith(squash(f"Chapter {chapter.number}"))
    left = book.pages[start]  # the page after an opener is a left-hand page
    right = book.pages[start + 1]
    assert squash(left.strip().splitlines()[0]) == squash(book.guide.title)
    assert squash(right.strip().splitlines()[0]) == squash(chapter.title)


def test_all_fonts_are_ours_embedded_and_subset(book: Book):
    out = subprocess.run(
        ["pdffonts", str(book.path)], check=True, capture_output=True, text=True
    ).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    assert len(rows) >= 5
    for row in rows:
        name, emb, sub = row[0], row[-5], row[-4]
        assert (emb, sub) == ("yes", "yes"), row
        # Only the shipped families: a system fallback font would mean a missing glyph.
        assert re.match(r"^[A-Z]{6}\+Book-(Serif|Sans|Mono)", name), row


def test_the_pdf_is_small(book: Book):
    assert len(book.rendered.pdf) < 500_000


@pytest.mark.parametrize("book", ["product-discovery"], indirect=True)
def test_the_same_version_renders_the_same_bytes(book: Book):
    again = ebook_render(guide=book.guide, now=FIXED_NOW)
    assert again.pdf == book.rendered.pdf


def test_copyright_page_has_year_publisher_and_edition(book: Book):
    text = squash("".join(book.pages[:6]))
    assert squash(f"© {FIXED_NOW.year} {settings.SITE_NAME}") in text
    assert squash(f"Edition {book.guide.version}") in text


# -- Ids ------------------------------------------------------------------------------------


def test_prefix_ids_rewrites_ids_and_fragment_links_only():
    html = (
        '<h2 id="start">Start</h2><p><a href="#start">up</a> '
        '<a href="https://example.com/#start">out</a> id=&quot;text&quot;</p>'
    )
    assert prefix_ids(html, "c03-") == (
        '<h2 id="c03-start">Start</h2><p><a href="#c03-start">up</a> '
        '<a href="https://example.com/#start">out</a> id=&quot;text&quot;</p>'
    )


def test_heading_anchors_are_unique_across_chapters():
    guide = load_library().guide("modern-product-management")
    assert guide is not None
    context = book_context(guide=guide, now=FIXED_NOW)
    anchors = [s["anchor"] for c in context["chapters"] for s in c["sections"]]
    assert len(anchors) == len(set(anchors))
    assert any(a.endswith("-key-takeaways") for a in anchors)  # the same heading in each chapter
    for chapter in context["chapters"]:
        ids = re.findall(r'\sid="([^"]+)"', chapter["html"])
        assert ids
        assert all(i.startswith(chapter["anchor"] + "-") for i in ids)


# -- The restricted fetcher -----------------------------------------------------------------

FONT_CSS = (
    '@font-face { font-family: T; src: url("ebgaramond-regular.woff2"); } p { font-family: T }'
)


def render_snippet(
    body: str, *, css: str = FONT_CSS, roots: list[Path] | None = None
) -> RenderedPdf:
    font_dir = Path(settings.FONT_DIR)
    return html_to_pdf(
        html=f'<html lang="en"><head><title>t</title></head><body>{body}</body></html>',
        css=css,
        base_dir=font_dir,
        css_base_dir=font_dir,
        roots=roots or [font_dir, Path(settings.EBOOK_TEMPLATE_DIR)],
        pdf_variant=None,
    )


PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_data_urls_and_own_fonts_are_allowed():
    result = render_snippet(f'<p>Hello</p><img src="{PIXEL}" alt="">')
    assert result.pages == 1
    assert result.pdf.startswith(b"%PDF")


@pytest.mark.parametrize(
    "body",
    [
        '<img src="file:///etc/passwd" alt="">',
        '<img src="http://127.0.0.1:9/x.png" alt="">',
        '<img src="https://example.com/x.png" alt="">',
        '<img src="ftp://example.com/x.png" alt="">',
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">',
        '<img src="../../../../../../etc/passwd" alt="">',
        '<img src="file:///etc/%2e%2e/etc/passwd" alt="">',
        '<img src="inter-regular.woff2/../../../../../../../etc/hostname" alt="">',
    ],
)
def test_fetches_outside_the_ebook_folders_abort_the_render(body: str):
    with pytest.raises(EbookRenderError, match=r"refused|not found"):
        render_snippet(body)


def test_a_missing_own_file_is_reported_as_not_found():
    with pytest.raises(EbookRenderError, match="not found"):
        render_snippet('<img src="missing.png" alt="">')


def test_css_imports_and_fonts_outside_are_refused_too():
    with pytest.raises(EbookRenderError, match="refused"):
        render_snippet("<p>x</p>", css='@import url("file:///etc/passwd");')
    with pytest.raises(EbookRenderError, match="refused"):
        render_snippet(
            "<p>x</p>",
            css='@font-face { font-family: X; src: url("../../../../../../../../etc/passwd"); }',
        )


def test_symlinks_out_of_an_allowed_folder_are_refused(tmp_path: Path):
    (tmp_path / "inside.png").symlink_to("/etc/passwd")
    with pytest.raises(EbookFetchRefusedError, match="outside"):
        RestrictedURLFetcher(roots=[tmp_path]).fetch((tmp_path / "inside.png").as_uri())


class _Redirect(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        _Redirect.hits.append(self.path)
        self.send_response(302)
        self.send_header("Location", (Path(settings.FONT_DIR) / "inter-regular.woff2").as_uri())
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirect_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Redirect.hits.clear()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_redirect_to_an_allowed_file_is_refused_without_any_request(redirect_server: str):
    with pytest.raises(EbookRenderError, match="refused"):
        render_snippet(f'<img src="{redirect_server}/go" alt="">')
    assert _Redirect.hits == []  # the fetcher never opened the connection


@pytest.mark.parametrize(
    "body",
    [
        '<link rel="attachment" href="ebgaramond-regular.woff2">',
        '<link rel="attachment" href="file:///etc/passwd">',
        '<a rel="attachment" href="inter-regular.woff2">font</a>',
    ],
)
def test_attachments_are_refused_even_from_allowed_folders(body: str):
    with pytest.raises(EbookFetchRefusedError, match="attachment"):
        render_snippet(f"<p>x</p>{body}")


def test_a_sealed_fetcher_refuses_everything():
    fetcher = RestrictedURLFetcher(roots=[Path(settings.FONT_DIR)])
    font = (Path(settings.FONT_DIR) / "inter-regular.woff2").as_uri()
    assert fetcher.fetch(font).read()[:4] == b"wOF2"
    fetcher.seal()
    with pytest.raises(EbookFetchRefusedError, match="attachments"):
        fetcher.fetch(font)
    assert fetcher.refused
