"""Serve saved models over HTTP: a read-only API and the explorer page (the ``serve`` extra).

``Catalog`` loads the folders (no web framework needed); ``entembed.serve.app.create_app`` builds the
FastAPI application and ``entembed.serve.server.run`` runs it on uvicorn.
"""

from .catalog import Catalog, NotFound

__all__ = ["Catalog", "NotFound"]
