"""The `prophoto` command-line client and local supervisor."""
