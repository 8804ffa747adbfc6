"""Worker entry point: ``celery -A workers.celery_app worker``."""
from app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]

import workers.tasks  # noqa: E402,F401  (registers the tasks on this Celery app)
