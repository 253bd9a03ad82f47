"""Import from Grafana OnCall: its public REST API v1 → our configuration document.

``client`` reads the API (paginated, with timeouts and clear errors), ``people``,
``schedules``, ``chains`` and ``integrations`` map one concept each, ``report``
collects what could not be mapped and why, ``importer`` ties them together.
Nothing here writes to the database: the document is applied by ``oncall_config``.
"""
