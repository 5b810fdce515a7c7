"""WSGI entry point: each gunicorn worker loads the model named by MODEL_URI once."""

from scoring import app as app_factory
from scoring import settings, state

serving = state.ServingState(settings.from_environ())
serving.start()
app = app_factory.create_app(serving)
