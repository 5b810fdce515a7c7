"""`python -m scoring`: check the environment, then run gunicorn with scoring.gunicorn_conf.

This is the scoring container's command. A bad setting exits 2 with every invalid variable
named before any worker starts; after that, gunicorn owns the process (signals, workers).
"""

import sys

from mlrelease.errors import InputError
from mlrelease.store import open_store
from scoring import settings


def main() -> int:
    """Run the scoring server in this process until gunicorn stops."""
    try:
        # Opening the store checks the URI scheme and that credentials are configured,
        # without reading anything: a model that is not published yet is not an error.
        open_store(settings.from_environ().model_uri)
    except InputError as error:
        print(f"scoring: error: {error}", file=sys.stderr)
        return error.exit_code
    from gunicorn.app.wsgiapp import WSGIApplication

    sys.argv = ["scoring", "--config", "python:scoring.gunicorn_conf"]
    WSGIApplication("%(prog)s").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
