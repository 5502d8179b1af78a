"""The idempotent core: one module per stage. Returns typed results; never prints, never imports typer or rich."""
