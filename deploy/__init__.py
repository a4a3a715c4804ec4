"""Production deployment of the study server: the launcher (``python -m deploy.launcher``), the nginx config that
serves stimulus images off oTree's global lock, the participant gate, oTree's websocket sends from its worker threads
moved onto the server's event loop (otree_threads). Standard library only, so it runs in the study
environment (.venv). Throwaway local servers for tests and benchmarks are in :mod:`harness.local`."""
