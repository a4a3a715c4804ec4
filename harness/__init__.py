"""Throwaway local things for the tests, the benchmarks and the demo; never part of a deployment.

* :mod:`harness.local` -- local servers on loopback, cleaned up: PostgreSQL in a temporary directory, the oTree
  production server through :mod:`deploy.launcher`, nginx; oTree's REST API (sessions, exports).
* :mod:`harness.bundle` -- ``make_bundle``: a small, valid synthetic stimulus bundle on disk.

Both the tests and bench/ import it (and neither imports the other)."""
