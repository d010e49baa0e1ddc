"""The web studio: an HTTP API and server-rendered pages on the same core as the Discord bot and the CLI.

An adapter like `bot/`: it sees the core through `studio.contract`, `studio.bundle` and the feature `api` modules
only; its composition root (`web.runner`) opens the services and registers the web's delivery port.
"""
