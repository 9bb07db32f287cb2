"""mkdocs hooks (``hooks:`` in mkdocs.yml): keep lesson pages free of CDN loaders.

nbconvert's HTML template, which mkdocs-jupyter renders each notebook with, embeds two loaders:
a MathJax 2 ``<script src=...>`` (pointing at a CDN unless given another URL) with its
``text/x-mathjax-config`` block, and a module script that imports mermaid from a CDN when the
page has a mermaid diagram. The site typesets maths with its own local MathJax 3 (see
``docs/javascripts/mathjax-config.js``) and lessons have no mermaid diagrams, so both are removed.
"""

from __future__ import annotations

import re

_MATHJAX2 = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_MODULE_SCRIPT = re.compile(r"<script type=\"module\">.*?</script>", re.S)


def strip_notebook_loaders(html: str) -> str:
    """``html`` without nbconvert's MathJax 2 and mermaid loaders."""
    html = _MATHJAX2.sub("", html)
    return _MODULE_SCRIPT.sub(lambda m: "" if "mermaid" in m.group(0) else m.group(0), html)


def on_page_content(html, page, config, files):
    if html and "jupyter-wrapper" in html:
        return strip_notebook_loaders(html)
    return html
