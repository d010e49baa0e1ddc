"""`studio web`: the web studio with the core and no Discord; `studio web url` and `studio web token --rotate`."""

from __future__ import annotations

import click

from cli.commands._support import Context, run_async

DEFAULT_PORT = 8765


@click.group("web", invoke_without_command=True)
@click.option("--host", help="Where to listen (default: STUDIO_WEB_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help=f"Port (default: STUDIO_WEB_PORT, else {DEFAULT_PORT}).")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web studio and its API on this machine, until Ctrl+C (no Discord token needed).

    Prints the address to open: it carries the access token, which the page trades for a session cookie.
    """
    if ctx.invoked_subcommand is not None:
        return
    from studio.settings import refuse_remote_host
    from web.runner import run_web

    obj: Context = ctx.obj
    settings = obj.settings
    host = host or settings.web.host
    refuse_remote_host(host, settings.web.allow_remote)
    port = port if port is not None else settings.web.port or DEFAULT_PORT

    def ready(url: str) -> None:
        click.echo(f"web studio: {url}")
        if settings.web.discord_login:
            click.echo("Sign in with Discord is off here: it needs the bot (`studio run`); the token works.", err=True)
        click.echo("(Ctrl+C stops it)", err=True)

    run_async(lambda: run_web(settings, host, port, ready))


@web.command("url")
@click.pass_obj
def url(obj: Context) -> None:
    """Print the address of the web studio, with its access token."""
    from web.auth import read_token
    from web.runner import web_url

    settings = obj.settings
    click.echo(web_url(settings.web.host, settings.web.port or DEFAULT_PORT, read_token(settings.data_dir)))


@web.command("token")
@click.option("--rotate", is_flag=True, help="Make a new token; the old one and every session stop working.")
@click.pass_obj
def token(obj: Context, rotate: bool) -> None:
    """Print the web studio's access token (for `Authorization: Bearer` in scripts)."""
    from web.auth import read_token

    click.echo(read_token(obj.settings.data_dir, rotate=rotate))
    if rotate:
        click.echo("rotated: restart a running `studio web` or `studio run` for it to take effect", err=True)
