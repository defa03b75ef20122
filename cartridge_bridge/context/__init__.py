"""Context: the facts gathered for it, what the project already is (models, sources, conventions, keys), what is relevant."""
