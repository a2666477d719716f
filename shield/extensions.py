"""Extensions, created unbound and bound to the app in create_app."""

from flask_migrate import Migrate

from models import db

migrate = Migrate(compare_type=True, render_as_batch=True)

__all__ = ["db", "migrate"]
