"""The SQL floor: names, identifiers and their quoting, type families and checked SQL fragments."""
