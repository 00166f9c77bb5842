"""The project's benchmark suite (`make bench`): see __main__.py."""
