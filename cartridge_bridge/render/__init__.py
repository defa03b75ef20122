"""Render: SQL from templates in the project's style, YAML entries to merge."""
