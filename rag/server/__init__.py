"""The HTTP API (``python -m rag serve``, ``make serve``); see :mod:`rag.server.app`."""
