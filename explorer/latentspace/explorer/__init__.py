"""The explorer: a web page over the Python SDK for looking at a collection (``latent explore``).

:mod:`.api` turns the page's JSON requests into SDK calls and their results into JSON;
:mod:`.http_app` serves that API and the page's static files (``static/``, no CDN). It depends on
the SDK only, never on the service's packages.
"""
