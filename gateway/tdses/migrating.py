"""Alembic's migration context is global to its process: stores migrating at once in one process (a gateway's store
and its registry index, whose follower opens it in a worker thread; several gateways in one test process) would
tear it from each other. Every migration holds this lock."""

import threading

LOCK = threading.Lock()
