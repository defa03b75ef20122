"""The files floor: atomic writes, reading exactly, round-trip YAML, cartridge's own files and fault points."""
