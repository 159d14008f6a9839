"""`slo-engine serve`: the API under uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.settings import get_settings

if TYPE_CHECKING:
    pass


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API with uvicorn (JSON logs on stdout, one line per request)."""
    import uvicorn

    from serving.main import create_app
    from serving.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
