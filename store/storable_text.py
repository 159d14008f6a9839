"""Text the database can store. JSON lets a client send `\u0000` and unpaired surrogates;
PostgreSQL rejects both (in text and in jsonb) and SQLite would store bytes no reader can
decode. Such input is refused at the edge as a 422 naming the field, never a failed write."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, model_validator

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_path(value: Any, path: str = "") -> str | None:
    """Where, in a decoded JSON value, the first unstorable character is (None: nowhere)."""
    if isinstance(value, str):
        return path or "value" if UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            shown = _escaped(str(key))  # the message must itself be storable and printable
            where = f"{path}.{shown}" if path else shown
            if isinstance(key, str) and UNSTORABLE.search(key):
                return where
            found = unstorable_path(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = unstorable_path(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _escaped(text: str) -> str:
    return UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _storable(text: str) -> str:
    if UNSTORABLE.search(text):
        raise ValueError("text contains a NUL character or an unpaired surrogate")
    return text


StorableStr = Annotated[str, AfterValidator(_storable)]


class StorableBody(BaseModel):
    """A request body whose every string, extra fields and nested ones included, is storable."""

    @model_validator(mode="before")
    @classmethod
    def _only_storable_text(cls, data: Any) -> Any:
        where = unstorable_path(data)
        if where:
            raise ValueError(
                f"{where}: text contains a NUL character or an unpaired surrogate, which "
                "cannot be stored"
            )
        return data
