"""Flask CLI commands: `flask --app api.wsgi openapi [--check]`."""

from __future__ import annotations

import sys

import click
from flask import Flask


def register(app: Flask) -> None:
    @app.cli.command("openapi")
    @click.option("--check", is_flag=True, help="Exit 1 when the checked-in documents are stale.")
    def openapi_command(check: bool) -> None:
        """Regenerate the OpenAPI documents under openapi/."""
        from api.openapi import write_documents

        stale = write_documents(app, check=check)
        if check and stale:
            click.echo(f"stale OpenAPI documents: {', '.join(stale)}", err=True)
            sys.exit(1)
