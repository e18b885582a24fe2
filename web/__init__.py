"""The archive service: users, roles and sessions, the permission matrix, and the web pages and API.

``web.access``, ``web.users`` and ``web.tables`` import no web framework, so the
command line uses them at once.
"""
