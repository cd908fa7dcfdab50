"""Pure logic over plain data: names, annotation parsing, references, hashing, decisions.

Nothing here talks to the API server, reads the clock or the environment, so every rule that
decides whether a workload rolls can be unit-tested exhaustively.
"""
