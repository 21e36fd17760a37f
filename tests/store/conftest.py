"""The store's tests share serve's trained tiny runs and throwaway PostgreSQL (tests/serve/conftest.py)."""

from serve.conftest import free_port, fresh_postgres, postgres_url, tiny_runs  # noqa: F401  (fixtures, helpers)
