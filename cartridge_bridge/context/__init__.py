"""Context: what the project already is (models, sources, conventions, keys) and what is relevant."""
