"""MkDocs hook: a page in docs/<folder>/ that mkdocs.yml's nav does not name yet joins the nav section
whose pages live in that folder, at its end, so a page another branch lands is never orphaned."""

from __future__ import annotations

from mkdocs.structure.nav import Section
from mkdocs.structure.pages import Page


def on_nav(nav, /, *, config, files):
    listed = {page.file.src_uri for page in nav.pages}
    sections = {}
    for item in nav.items:
        if isinstance(item, Section):
            for child in item.children:
                if isinstance(child, Page):
                    sections.setdefault(child.file.src_uri.split("/")[0], item)
    for file in files.documentation_pages():
        section = sections.get(file.src_uri.split("/")[0])
        if file.src_uri not in listed and "/" in file.src_uri and section is not None:
            page = file.page or Page(None, file, config)
            page.parent = section
            section.children.append(page)
            nav.pages.append(page)
    return nav
