"""Command-line interface: Typer commands that call the library and render results."""
