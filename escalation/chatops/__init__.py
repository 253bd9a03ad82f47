"""Chat-ops: people act on incidents from Matrix rooms (reactions and ``!`` commands).

An entry point like the API and the web UI: it parses what people say, acts through
``lifecycle.perform`` (``act``) and answers through the Matrix channel below it.
"""
