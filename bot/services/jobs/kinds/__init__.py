"""One module per kind of job; `bot.services.container` registers them with the queue."""
