"""Guides from content/: parsed once into immutable objects, validated with path:line errors.

Layout: content/<guide>/guide.md (front matter: title, subtitle, ebook_title, description,
authors, language, audience, pitch; body: the guide's introduction) and
content/<guide>/NN-<slug>.md (front matter: title, summary; body: the chapter). The chapter
number comes from NN. Views look chapters up in this index and never build paths from URLs.
"""

import hashlib
import math
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.utils.text import slugify

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

GUIDE_FILE = "guide.md"
CHAPTER_FILE = re.compile(r"^(?P<number>\d{2})-(?P<slug>[a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
GUIDE_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
WORDS_PER_MINUTE = 230

GUIDE_REQUIRED = ("title", "subtitle", "ebook_title", "description", "authors", "pitch", "audience")
CHAPTER_REQUIRED = ("title", "summary")


class ContentError(Exception):
    """A content file is broken. str() gives 'path:line: message'."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Chapter:
    guide_slug: str
    number: int
    slug: str
    title: str
    summary: str
    html: str
    headings: tuple[Heading, ...]
    word_count: int
    source: Path = field(repr=False)

    @property
    def reading_minutes(self) -> int:
        return max(1, math.ceil(self.word_count / WORDS_PER_MINUTE))

    @property
    def sections(self) -> tuple[Heading, ...]:
        """The level-2 headings: the in-page contents."""
        return tuple(h for h in self.headings if h.level == 2)


@dataclass(frozen=True)
class Guide:
    slug: str
    title: str
    subtitle: str
    ebook_title: str
    description: str
    authors: tuple[str, ...]
    language: str
    audience: str
    pitch: str
    intro_html: str
    chapters: tuple[Chapter, ...]
    #: Hash of this guide's files, the eBook templates and the fonts: keys the eBook cache.
    version: str

    def chapter(self, slug: str) -> Chapter | None:
        return next((c for c in self.chapters if c.slug == slug), None)

    def neighbours(self, chapter: Chapter) -> tuple[Chapter | None, Chapter | None]:
        i = chapter.number - 1
        previous = self.chapters[i - 1] if i > 0 else None
        following = self.chapters[i + 1] if i + 1 < len(self.chapters) else None
        return previous, following

    @property
    def word_count(self) -> int:
        return sum(c.word_count for c in self.chapters)


@dataclass(frozen=True)
class Library:
    guides: tuple[Guide, ...]
    #: Hash of all content, templates and static assets: keys the page caches.
    version: str
    by_slug: MappingProxyType[str, Guide]

    def guide(self, slug: str) -> Guide | None:
        return self.by_slug.get(slug)


# -- Markdown -------------------------------------------------------------------------------


def _markdown() -> MarkdownIt:
    # js-default: CommonMark + tables + strikethrough, raw HTML off (content is trusted, but
    # the eBook fetcher and the CSP are simpler when no raw HTML can slip in).
    md = MarkdownIt("js-default", {"typographer": True})
    md.enable(["replacements", "smartquotes"])
    md.use(footnote_plugin).use(deflist_plugin).use(tasklists_plugin, label=True)
    md.use(anchors_plugin, min_level=2, max_level=3, slug_func=_slug, permalink=False)
    # Wide tables scroll inside a focusable, labelled region (keyboard users can scroll it).
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    return md


def _table_open(self, tokens, idx, options, env) -> str:  # type: ignore[no-untyped-def]
    table = self.renderToken(tokens, idx, options, env)
    return f'<div class="table-scroll" role="region" tabindex="0" aria-label="Table">{table}'


def _table_close(self, tokens, idx, options, env) -> str:  # type: ignore[no-untyped-def]
    return self.renderToken(tokens, idx, options, env) + "</div>"


def _slug(text: str) -> str:
    return slugify(text) or "section"


_MD = _markdown()


def _render(body: str) -> tuple[str, list[Token]]:
    tokens = _MD.parse(body)
    return _MD.renderer.render(tokens, _MD.options, {}), tokens


def _headings(tokens: list[Token]) -> tuple[Heading, ...]:
    found = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in {"h2", "h3"}:
            inline = tokens[i + 1]
            text = "".join(c.content for c in (inline.children or []) if c.type == "text")
            found.append(Heading(int(token.tag[1]), text or inline.content, str(token.attrs["id"])))
    return tuple(found)


def _words(body: str) -> int:
    return len(re.findall(r"[A-Za-z0-9’']+", body))


# -- Files ----------------------------------------------------------------------------------


def _split_front_matter(path: Path) -> tuple[dict[str, Any], str, int]:
    """Return (front matter, body, line number of the body's first line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ContentError(path, line, "file is not valid UTF-8") from exc
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ContentError(path, 1, "missing front matter: the file must start with '---'")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise ContentError(path, 1, "front matter is not closed with '---'") from None
    try:
        meta = yaml.safe_load("".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        raise ContentError(path, line, f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise ContentError(path, 2, "front matter must be a mapping of keys to values")
    return meta, "".join(lines[end + 1 :]), end + 2


def _meta_line(path: Path, key: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return 1


def _require_text(path: Path, meta: dict[str, Any], key: str, *, limit: int = 300) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ContentError(path, _meta_line(path, key), f"'{key}' is required and must be text")
    value = value.strip()
    if len(value) > limit:
        message = f"'{key}' is longer than {limit} characters"
        raise ContentError(path, _meta_line(path, key), message)
    return value


def _check_body(path: Path, tokens: list[Token], first_line: int) -> None:
    seen: set[str] = set()
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        line = first_line + (token.map[0] if token.map else 0)
        if token.tag == "h1":
            raise ContentError(path, line, "use '##' for sections: the page prints the title as h1")
        text = tokens[i + 1].content.strip().lower()
        if text in seen:
            raise ContentError(path, line, f"duplicate heading {tokens[i + 1].content!r}")
        seen.add(text)


def _load_chapter(guide_slug: str, path: Path, number: int, slug: str) -> Chapter:
    meta, body, first_line = _split_front_matter(path)
    unknown = set(meta) - {"title", "summary"}
    if unknown:
        key = sorted(unknown)[0]
        raise ContentError(path, _meta_line(path, key), f"unknown front-matter key '{key}'")
    title = _require_text(path, meta, "title", limit=120)
    summary = _require_text(path, meta, "summary", limit=300)
    if not body.strip():
        raise ContentError(path, first_line, "chapter body is empty")
    html, tokens = _render(body)
    _check_body(path, tokens, first_line)
    return Chapter(
        guide_slug=guide_slug,
        number=number,
        slug=slug,
        title=title,
        summary=summary,
        html=html,
        headings=_headings(tokens),
        word_count=_words(body),
        source=path,
    )


def _hash_files(paths: Iterable[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(os.path.relpath(path, root).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def _load_guide(folder: Path) -> Guide:
    guide_path = folder / GUIDE_FILE
    if not GUIDE_SLUG.match(folder.name):
        raise ContentError(folder, 1, "guide folder names are lowercase words joined by '-'")
    if not guide_path.is_file():
        raise ContentError(guide_path, 1, "every guide folder needs a guide.md")
    meta, body, _ = _split_front_matter(guide_path)
    for key in GUIDE_REQUIRED:
        if key not in meta:
            raise ContentError(guide_path, 1, f"'{key}' is required in the front matter")
    authors = meta["authors"]
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list) or not all(isinstance(a, str) and a.strip() for a in authors):
        line = _meta_line(guide_path, "authors")
        raise ContentError(guide_path, line, "'authors' is a list of names")

    chapters = []
    for path in sorted(folder.glob("*.md")):
        if path.name == GUIDE_FILE:
            continue
        match = CHAPTER_FILE.match(path.name)
        if not match:
            raise ContentError(path, 1, "chapter files are named NN-slug.md (e.g. 03-roadmaps.md)")
        number = int(match["number"])
        expected = len(chapters) + 1
        if number != expected:
            message = f"chapter number {number} out of sequence: expected {expected:02d}"
            raise ContentError(path, 1, message)
        chapters.append(_load_chapter(folder.name, path, number, match["slug"]))
    if not chapters:
        raise ContentError(guide_path, 1, "a guide needs at least one chapter file")

    version_files = [*folder.glob("*.md"), *_files_under(settings.EBOOK_TEMPLATE_DIR)]
    version_files += _files_under(settings.FONT_DIR)
    return Guide(
        slug=folder.name,
        title=_require_text(guide_path, meta, "title", limit=120),
        subtitle=_require_text(guide_path, meta, "subtitle", limit=200),
        ebook_title=_require_text(guide_path, meta, "ebook_title", limit=120),
        description=_require_text(guide_path, meta, "description", limit=200),
        authors=tuple(a.strip() for a in authors),
        language=str(meta.get("language", "en")),
        audience=_require_text(guide_path, meta, "audience", limit=60),
        pitch=_require_text(guide_path, meta, "pitch", limit=200),
        intro_html=_render(body)[0] if body.strip() else "",
        chapters=tuple(chapters),
        version=_hash_files(version_files, settings.BASE_DIR),
    )


def load_library(content_dir: Path | None = None) -> Library:
    """Parse every guide under content_dir; raise ContentError on the first broken file."""
    root = Path(content_dir or settings.CONTENT_DIR)
    if not root.is_dir():
        raise ContentError(root, 1, "content folder not found")
    guides = tuple(_load_guide(folder) for folder in sorted(root.iterdir()) if folder.is_dir())
    if not guides:
        raise ContentError(root, 1, "no guides found")
    site_files = [p for g in guides for p in (root / g.slug).glob("*.md")]
    site_files += _files_under(settings.BASE_DIR / "templates")
    site_files += _files_under(settings.BASE_DIR / "site" / "core" / "static")
    return Library(
        guides=guides,
        version=_hash_files(site_files, settings.BASE_DIR),
        by_slug=MappingProxyType({g.slug: g for g in guides}),
    )


_lock = threading.Lock()
_library: Library | None = None


def get_library() -> Library:
    """The process-wide library, loaded on first use."""
    global _library
    if _library is None:
        with _lock:
            if _library is None:
                _library = load_library()
    return _library


def reset_library() -> None:
    """Forget the loaded library (tests, and `make run` after editing content)."""
    global _library
    with _lock:
        _library = None
