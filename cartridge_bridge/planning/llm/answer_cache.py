"""Answers cached on disk by content: the same question to the same model is asked once.

The key is the sha256 of the model and the request (messages, schema name and schema); where the
model runs (api_base) and any credential are not part of it, and nothing but the answer's text is
stored. One JSON file per key, written atomically, so threads and concurrent runs may share a folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cartridge_bridge.planning.llm.chat import ChatRequest
from cartridge_bridge.write.atomic_files import write_atomic

CACHE_VERSION = 1


def cache_key(model: str, request: ChatRequest) -> str:
    """The sha256 (hex) of what decides the answer: model, messages, schema name and schema."""
    content = {
        "version": CACHE_VERSION,
        "model": model,
        "messages": request.messages,
        "schema_name": request.schema_name,
        "schema": request.response_schema,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AnswerCache:
    """A folder of `<key>.json` files, each holding one answer's text."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, key: str) -> Path:
        """Where the answer for `key` lives."""
        return self.folder / f"{key}.json"

    def read(self, key: str) -> str | None:
        """The cached answer for `key`; None when there is none or the file is unreadable."""
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return None
        text = data.get("text")
        return text if isinstance(text, str) else None

    def write(self, key: str, model: str, schema_name: str, text: str) -> None:
        """Store an answer: a temporary file in the same folder, then os.replace."""
        self._make_folder()
        record = {"version": CACHE_VERSION, "model": model, "schema_name": schema_name, "text": text}
        # Private: an answer may quote the project's schema.
        text_of_record = json.dumps(record, ensure_ascii=False)
        write_atomic(self.path(key), text_of_record, new_file_mode=0o600)

    def _make_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        ignore = self.folder / ".gitignore"
        if not ignore.exists():
            # A local cache, never committed; the answers may quote the project's schema.
            ignore.write_text("# cartridge's LLM answer cache: local only\n*\n", encoding="utf-8")
