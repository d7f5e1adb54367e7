from pathlib import Path

import pytest

from guides.content import ContentError, load_library


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GUIDE = """---
title: "A Guide"
subtitle: "Sub"
ebook_title: "The Book"
description: "Desc"
authors: ["Someone"]
audience: "readers"
pitch: "Tips."
---
Intro.
"""


def chapter(title: str = "One", body: str = "## Start\n\nText here.\n") -> str:
    return f'---\ntitle: "{title}"\nsummary: "About {title}."\n---\n{body}'


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path / "g", "guide.md", GUIDE)
    write(tmp_path / "g", "01-one.md", chapter("One"))
    write(tmp_path / "g", "02-two.md", chapter("Two", "Intro.\n\n## A\n\nx\n\n### B\n\ny\n"))
    return tmp_path


def test_shipped_content_is_complete_and_long_enough():
    library = load_library()
    by_slug = {g.slug: g for g in library.guides}
    main = by_slug["modern-product-management"]
    assert len(main.chapters) >= 12
    assert main.chapters[11].title == "Product Manager vs. Technical Product Manager"
    assert main.ebook_title == "How to Succeed as a Modern Product Manager"
    assert any(len(g.chapters) >= 3 for g in library.guides if g is not main)
    for guide in library.guides:
        for ch in guide.chapters:
            assert ch.word_count >= 700, f"{ch.source} has only {ch.word_count} words"
            assert ch.sections, f"{ch.source} has no sections"


def test_loads_chapters_in_order_with_headings_and_neighbours(tree: Path):
    guide = load_library(tree).guide("g")
    assert [c.number for c in guide.chapters] == [1, 2]
    two = guide.chapter("two")
    assert [(h.level, h.text, h.anchor) for h in two.headings] == [(2, "A", "a"), (3, "B", "b")]
    assert '<h2 id="a">A</h2>' in two.html
    assert guide.neighbours(two) == (guide.chapter("one"), None)
    assert guide.chapter("nope") is None


def test_raw_html_in_markdown_is_escaped(tree: Path):
    write(tree / "g", "01-one.md", chapter("One", "<script>alert(1)</script>\n\ntext\n"))
    html = load_library(tree).guide("g").chapter("one").html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("01-one.md", "title: x\n", 1, "missing front matter"),
        ("01-one.md", '---\ntitle: "x"\nsummary: [unclosed\n---\nbody\n', 4, "not valid YAML"),
        ("01-one.md", '---\nsummary: "s"\n---\nbody\n', 1, "'title' is required"),
        ("01-one.md", chapter("One", "para\n\n# Big\n"), 7, "use '##'"),
        ("01-one.md", chapter("One", "## Same\n\nx\n\n## Same\n"), 9, "duplicate heading"),
        ("01-one.md", '---\ntitle: "x"\nsummary: "s"\ncolour: "red"\n---\nb\n', 4, "unknown"),
        ("04-four.md", chapter("Four"), 1, "out of sequence"),
        ("1-bad name.md", chapter("Bad"), 1, "NN-slug.md"),
    ],
)
def test_broken_files_fail_with_path_and_line(tree: Path, name, text, line, message):
    path = write(tree / "g", name, text)
    with pytest.raises(ContentError) as info:
        load_library(tree)
    assert info.value.path == path
    assert info.value.line == line
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_invalid_utf8_is_reported_with_its_line(tree: Path):
    path = tree / "g" / "01-one.md"
    path.write_bytes(b'---\ntitle: "x"\nsummary: "s"\n---\nok\n\xff\n')
    with pytest.raises(ContentError, match="not valid UTF-8") as info:
        load_library(tree)
    assert info.value.line == 6


def test_version_changes_with_content_only(tree: Path):
    first = load_library(tree)
    assert load_library(tree).version == first.version
    assert load_library(tree).guide("g").version == first.guide("g").version
    write(tree / "g", "02-two.md", chapter("Two", "## A\n\nchanged\n"))
    second = load_library(tree)
    assert second.version != first.version
    assert second.guide("g").version != first.guide("g").version


def test_check_content_command_reports_errors(tree: Path, settings, capsys):
    from django.core.management import CommandError, call_command

    call_command("check_content")
    assert "content OK" in capsys.readouterr().out
    write(tree / "g", "01-one.md", "no front matter\n")
    settings.CONTENT_DIR = tree
    with pytest.raises(CommandError, match=r"01-one\.md:1: missing front matter"):
        call_command("check_content")
