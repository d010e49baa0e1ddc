"""One router module per area of the studio; `web.app.ROUTERS` lists them."""
