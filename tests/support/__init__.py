"""What the tests share: fixture corpora, running apps, real servers on loopback, browsers, mail.

``web`` (the web app's corpus, a running app, form helpers), ``recs`` (the recommendation corpus),
``digest`` (subscribers and an SMTP server for digests), ``loopback`` (an HTTP server standing in
for arXiv and Hugging Face), ``servers`` (the app under uvicorn on a free port), ``browser``
(Debian's chromium under Playwright).
"""
