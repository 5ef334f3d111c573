"""The status page's words: the ``page.*`` texts of :mod:`monitor.catalogue`.

``text(language, "title")`` is ``catalogue.text(language, "page.title")``; the
texts, their placeholders (``{name}``) and the glossary live in the catalogue.
"""

from __future__ import annotations

from typing import Final

from monitor import catalogue
from monitor.catalogue import Language

__all__ = ["Language", "text"]

#: ``text(language, key, /, **values)``: the page's phrase ``key`` in ``language``,
#: ``{placeholders}`` filled (values inserted as they are, not escaped)
text: Final[catalogue.Texts] = catalogue.room("page")
