"""Run the API on uvicorn: one process, or several worker processes that each load the models once.

The parent loads the catalog first, so a bad folder or metadata file fails before any port is opened
and maps are computed (and cached in the folders) once. With several workers uvicorn imports
``app_from_environment`` in each worker, which loads the same folders from the cached maps.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Sequence

import torch

from ..errors import InputError, MissingExtraError, check_positive_int
from .app import create_app
from .catalog import Catalog

__all__ = ["run", "app_from_environment", "ENVIRONMENT"]

ENVIRONMENT = "ENTEMBED_SERVE"  # JSON settings handed from the parent process to worker processes


def run(folders: Sequence[str | os.PathLike], *, host: str = "127.0.0.1", port: int = 8000,
        metadata: str | os.PathLike | None = None, workers: int = 1, map_method: str = "auto",
        threads: int = 1, quiet: bool = False) -> None:
    """Serve the model ``folders`` on ``host:port`` until interrupted (127.0.0.1: this machine only).

    ``threads`` is torch's thread count in each worker. One query is a small matrix product, which one
    thread does in about a millisecond; spread over two threads on a busy machine it waits for the slower
    one (measured 14 ms against 2 ms a query on 2 shared cores), so concurrent requests run side by side
    on one thread each instead.
    """
    try:
        import uvicorn
        from uvicorn.supervisors import Multiprocess
    except ImportError as exc:
        raise MissingExtraError("entembed serve", "serve", "uvicorn") from exc
    check_positive_int("workers", workers)
    check_positive_int("threads", threads)
    if not 0 <= port <= 65535:
        raise InputError(f"port must be an int in [0, 65535]. Got {port!r} instead.")
    settings = {"folders": [str(Path(f).resolve()) for f in folders], "map": map_method, "threads": threads,
                "metadata": None if metadata is None else str(Path(metadata).resolve())}
    catalog = Catalog(settings["folders"], metadata=settings["metadata"], map_method=map_method, quiet=quiet)
    torch.set_num_threads(threads)
    log_level = "warning" if quiet else "info"
    if workers == 1:
        uvicorn.run(create_app(catalog), host=host, port=port, log_level=log_level)
        return
    del catalog  # each worker loads its own
    os.environ[ENVIRONMENT] = json.dumps(settings)
    config = uvicorn.Config("entembed.serve.server:app_from_environment", factory=True, host=host, port=port,
                            workers=workers, log_level=log_level)
    Multiprocess(config, sockets=[_tcp_listener(config.bind_socket())]).run()


def _tcp_listener(bound: socket.socket) -> socket.socket:
    """The listening socket, marked as TCP. uvicorn before 0.55 binds it with proto 0, accepted sockets inherit
    that, and asyncio turns on TCP_NODELAY only for proto TCP: without it every keep-alive answer after the
    first waited ~40 ms for the client's delayed ACK (measured; uvicorn issue #3149). 0.55 binds it as TCP."""
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())


def app_from_environment():
    """The app of one worker process, from the settings its parent put in ``ENTEMBED_SERVE``."""
    settings = json.loads(os.environ[ENVIRONMENT])
    torch.set_num_threads(settings["threads"])
    catalog = Catalog(settings["folders"], metadata=settings["metadata"], map_method=settings["map"], quiet=True)
    return create_app(catalog)
