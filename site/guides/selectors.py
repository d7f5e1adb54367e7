"""Reads over the content index. Guides know nothing of contacts or mail."""

from django.http import Http404

from guides.content import Chapter, Guide, Library, get_library


def library_get() -> Library:
    return get_library()


def guide_get(*, slug: str) -> Guide:
    guide = get_library().guide(slug)
    if guide is None:
        raise Http404("No such guide")
    return guide


def chapter_get(*, guide_slug: str, chapter_slug: str) -> tuple[Guide, Chapter]:
    guide = guide_get(slug=guide_slug)
    chapter = guide.chapter(chapter_slug)
    if chapter is None:
        raise Http404("No such chapter")
    return guide, chapter
