"""Alembic, driven from code: one shared env.py, one folder of revisions per service."""

from importlib.resources import files

from alembic import command
from alembic.config import Config

# The services, providers first: the one list (the local stack's ports follow from it too).
SERVICES = ("pricing", "inventory", "order")


def alembic_config(service: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("shopkit") / "migrations"))
    config.set_main_option("version_locations", str(files(service) / "migrations"))
    config.set_main_option("path_separator", "os")
    config.attributes["service"] = service
    config.attributes["database_url"] = database_url
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)
