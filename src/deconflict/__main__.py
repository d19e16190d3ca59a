"""``python -m deconflict``: the command line."""

from .cli import app

app()
