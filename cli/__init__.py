"""The `studio` command line: `main` is the group, `commands/` one module per area."""
