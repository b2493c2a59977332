"""`prophoto dev`: the whole pipeline on one machine, every service a child of one supervisor.

- `plan`: what runs (the children, their environment and ports).
- `prepare`: the database migrated and the broker topology declared first.
- `supervisor`: starts, prefixes the logs of, restarts and stops the children.

The command itself is in the client (`prophoto.cli.main`); this side starts services.
"""
