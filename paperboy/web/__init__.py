"""The web app and JSON API (interfaces layer): FastAPI, Jinja2 templates, Atom feeds."""
