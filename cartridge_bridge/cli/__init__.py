"""The terminal face: typer commands and rich views over the Python API."""
