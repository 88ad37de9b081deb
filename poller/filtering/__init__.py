"""Lambda's event filtering: the pattern language, JSON of bodies and data, each source's rules."""
