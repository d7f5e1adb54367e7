"""Campaign Markdown: rendered with markdown-it, safe for the mail layout."""

from campaigns.rendering import content_render


def html(body: str) -> str:
    return str(content_render(subject="s", preheader="", body=body).html)


def test_raw_html_is_shown_as_text_not_markup():
    out = html('<script>alert(1)</script> <table width="2000"><img src=x onerror=alert(1)>')
    assert "<script" not in out
    assert "<table" not in out
    assert "<img" not in out
    assert "&lt;script&gt;" in out


def test_dangerous_links_are_not_linked_and_relative_ones_become_absolute():
    out = html("[a](javascript:alert(1)) [b](/guides/x/) [c](https://example.org/) [d](//evil/)")
    assert "javascript:" not in out.replace("[a](javascript:alert(1))", "")
    assert 'href="http://testserver/guides/x/"' in out
    assert 'href="https://example.org/"' in out
    assert 'href="//evil/"' in out  # protocol-relative stays as written, not glued to SITE_URL


def test_images_tables_and_code_keep_inside_the_card():
    out = html("![cover](/static/cover.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\n")
    assert 'src="http://testserver/static/cover.png"' in out
    assert "max-width:100%" in out
    assert '<table style="border-collapse:collapse' in out
    assert '<pre style="white-space:pre-wrap' in out
    assert '<td style="text-align:left' in out


def test_headings_stay_below_the_subject_line():
    out = html("# Big\n\n## Section\n\n> quoted\n")
    assert '<h1 style="font-family:Helvetica' in out
    assert "font-size:20px" in out  # smaller than the mail's own h1 (the subject), 22px
    assert '<h2 style="font-family:Helvetica' in out
    assert '<blockquote style="' in out


def test_text_part_is_the_markdown_source():
    assert content_render(subject="s", preheader="", body="  **Hi**\n").text == "**Hi**"
