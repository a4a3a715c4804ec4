"""Production deployment of the study server: the launcher (``python -m deploy.launcher``), the nginx config that
serves stimulus images off oTree's global lock, and throwaway local servers for tests and benchmarks
(:mod:`deploy.local`). Standard library only, so it runs in the study environment (.venv)."""
