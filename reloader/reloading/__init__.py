"""The config reloader engine: keeps a reference index and rolls workloads on real changes."""
