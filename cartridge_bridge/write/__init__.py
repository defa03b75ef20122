"""Write: staged changes, add-only YAML merges, the journal, rollback and undo."""
