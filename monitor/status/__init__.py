"""The daemon's own status page: ``/`` (HTML) and ``/api/assets``, ``/api/alerts`` (JSON).

``gather`` reads the daemon (snapshot, forecasts, SQLite state) into the plain
data of ``view``; ``page`` turns it into the page's view model and renders the
Jinja2 templates of ``templates/`` (autoescaped), ``svg`` draws the charts (pure:
data and ``now`` in, text out); ``routes`` puts the three endpoints on the
daemon's aiohttp app.
"""

from monitor.status.gather import StatusSource
from monitor.status.routes import add_routes

__all__ = ["StatusSource", "add_routes"]
