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
from cartridge_bridge.write.own_files import OWN_DIR, create_once, make_own_dir, read_own, refuse_links

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
        # Inside a project's `.cartridge/` (the default), no part of the path may be a link out of it.
        self.project = next((p.parent for p in folder.parents if p.name == OWN_DIR.name), None)

    def path(self, key: str) -> Path:
        """Where the answer for `key` lives."""
        return self.folder / f"{key}.json"

    def read(self, key: str) -> str | None:
        """The cached answer for `key`; None when there is none or the file is unreadable."""
        path = self.path(key)
        try:
            raw = read_own(self.project, path) if self.project else path.read_bytes()
            data = json.loads(raw.decode("utf-8"))
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
        if self.project:
            refuse_links(
                self.project, self.path(key)
            )  # os.replace then swaps the name, never a link's target
        write_atomic(self.path(key), text_of_record, new_file_mode=0o600)

    def _make_folder(self) -> None:
        # A local cache, never committed; the answers may quote the project's schema.
        ignore = "# cartridge's LLM answer cache: local only\n*\n"
        if self.project:
            make_own_dir(self.project, self.folder)
            create_once(self.project, self.folder / ".gitignore", ignore)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / ".gitignore").exists():
            (self.folder / ".gitignore").write_text(ignore, encoding="utf-8")
