"""The synchronous order service of the seed tutorial: the baseline of the async comparison."""
