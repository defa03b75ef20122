"""The dbt floor: run dbt in-process, install the cartridge package, read and write packages.yml."""
