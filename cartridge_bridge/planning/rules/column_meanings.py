"""The few column names whose meaning is the same in every schema, described without guessing.

Kept short on purpose: a name is here only when its description is true wherever the name appears.
Anything else is left for the user to describe (the apply report lists those columns).
"""

from __future__ import annotations

import re

_MEANINGS = {
    "email": "Email address of the {entity}.",
    "email_address": "Email address of the {entity}.",
    "phone": "Phone number of the {entity}.",
    "phone_number": "Phone number of the {entity}.",
    "first_name": "First name of the {entity}.",
    "last_name": "Last name of the {entity}.",
    "created_at": "When the {entity} was created.",
    "updated_at": "When the {entity} was last updated.",
    "deleted_at": "When the {entity} was deleted; empty while it is not.",
    "is_deleted": "Whether the {entity} was deleted.",
    "currency": "Currency of the {entity}'s amounts.",
    "currency_code": "Currency of the {entity}'s amounts.",
    "status": "Status of the {entity}.",
}
# A loader's bookkeeping columns: `_<loader>_<what>`, and `_<what>` for a load time (`_loaded_at`), whose words
# say what it holds without the loader's name; a bare `_active` or `_end` could be anything.
_METADATA = re.compile(r"_(?:([a-z0-9]+)_)?(synced|extracted_at|loaded_at|deleted|active|start|end)")
_LOAD_TIMES = {"synced", "extracted_at", "loaded_at"}
_METADATA_MEANINGS = {
    "synced": "When the loader last wrote this row.",
    "extracted_at": "When the loader extracted this row from its source.",
    "loaded_at": "When the loader wrote this row.",
    "deleted": "Whether the loader saw this row deleted at its source; staging leaves such rows out.",
    "active": "Whether this row is the current version of its record.",
    "start": "When this version of the record became current.",
    "end": "When this version of the record stopped being current.",
}


def well_known_meaning(name: str, entity_words: str) -> str | None:
    """The description of a column whose name means one thing everywhere, or None."""
    found = _METADATA.fullmatch(name)
    if found and (found.group(1) or found.group(2) in _LOAD_TIMES):
        return _METADATA_MEANINGS[found.group(2)]
    meaning = _MEANINGS.get(name)
    return meaning.format(entity=entity_words) if meaning else None
