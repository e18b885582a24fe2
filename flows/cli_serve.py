"""``dangan serve``: the archive service (web pages in Chinese and the JSON API) on one address.

It opens the archive with the master key before it listens, so a missing or
wrong key stops it at once (exit 6) instead of failing every request. Run it
as the service's own OS account, the only one that reads the master key
(``infra/systemd/dangan-web.service``); put a TLS-terminating proxy in front of
it for anything beyond this machine.
"""

from __future__ import annotations

import argparse

from schemas.errors import ExitCode, InvalidRequest
from schemas.settings import Settings
from web.access import Action


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dangan serve``."""
    serve = sub.add_parser("serve", help="run the archive service: web pages and the JSON API (/openapi.json)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                       help="proxies trusted to say the client's address and https (default 127.0.0.1)")
    serve.set_defaults(handler=_cmd_serve, actions=(Action.SERVE,))


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> ExitCode:
    import uvicorn

    from web.app import create_app, open_archive_service

    if not 0 < args.port < 65536:
        raise InvalidRequest(f"--port {args.port} is not a port number (1-65535).")
    service = open_archive_service(settings)  # a key problem stops here, before anything listens
    app = create_app(settings, open_service=lambda _settings: service)
    print(f"dangan: serving the archive in {settings.home} on http://{args.host}:{args.port}/ "
          "(sign in at /login; Ctrl-C stops)", flush=True)
    # No access log: a request's query may hold an ID number; the audit log records who did what.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning", server_header=False,
                proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips)
    return ExitCode.OK
