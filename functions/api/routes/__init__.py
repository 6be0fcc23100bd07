"""The API's routes, one Powertools ``Router`` per resource; :func:`functions.api.app.create_app`
includes them all. A route reads the caller (``Depends(caller)``) and the app's context
(``Depends(app_context)``) from the request, never from module state, so one router serves any number
of apps."""

from aws_lambda_powertools.event_handler.router import Router

from functions.api.routes import jobs, prompt, service, stickers, uploads

#: Every router of the API, in the order they are included.
ROUTERS: tuple[Router, ...] = (stickers.router, prompt.router, jobs.router, uploads.router, service.router)
