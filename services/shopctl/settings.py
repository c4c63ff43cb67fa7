"""What `shopctl` reads from the environment: the chart's migration Job sets DATABASE_URL."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Read once per command; a missing DATABASE_URL stops it before anything connects."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str


def load(database_url: str | None = None) -> Settings:
    """The environment's settings, with `database_url` (a command-line option) taking over."""
    return Settings(database_url=database_url) if database_url else Settings()
