"""Accepted answers cached on disk by content: the same question to the same model at the same place is asked once.

The key is the sha256 of the model, the endpoint it is served from (api_base without credentials, query or a
trailing slash) and the request (messages, schema name and schema). Only answers the seam accepted are written
(see `Asker.ask`): an answer that failed validation or a plan check is never replayed, and another server behind
the same model name is asked, not served what this one said. Nothing but the answer's text is stored. One JSON
file per key, written atomically, so threads and concurrent runs may share a folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cartridge_bridge.files.atomic_files import write_atomic
from cartridge_bridge.files.own_files import OWN_DIR, create_once, make_own_dir, read_own, refuse_links
from cartridge_bridge.planning.llm.chat import ChatRequest

# 2: only accepted answers, keyed by endpoint too. Version 1 files may hold rejected answers: never read.
CACHE_VERSION = 2


def endpoint_of(api_base: str | None) -> str:
    """Where a model is served, as the cache key holds it: scheme, host and path, lower-case host, no credentials.

    No api_base (the provider's own endpoint, named by the model string) is the empty string.
    """
    if not api_base or not api_base.strip():
        return ""
    parts = urlsplit(api_base.strip())
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def cache_key(model: str, endpoint: str, request: ChatRequest) -> str:
    """The sha256 (hex) of what decides the answer: model, endpoint (see `endpoint_of`), messages and schema."""
    content = {
        "version": CACHE_VERSION,
        "model": model,
        "endpoint": endpoint,
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
        """Store an accepted answer: a temporary file in the same folder, then os.replace."""
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
