"""The `mlrelease` subcommands: argument parsing and I/O at the edge, logic in the library."""
