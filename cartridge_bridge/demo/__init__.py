"""The demo: an embedded PostgreSQL, a sample shop's raw data and a new project built end to end."""
