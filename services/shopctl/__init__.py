"""shopctl: the project's own chores (migrations, seed data, the local stack)."""
