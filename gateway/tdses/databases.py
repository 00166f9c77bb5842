"""The engine of a store on a database server (PostgreSQL): what the gateway's store and the registry index share.

    engine = server_engine("postgresql+psycopg://tdses@db/tdses")

Bound values stay out of errors (they may be password or token hashes, or sealed keys, and errors are logged), and
a server that does not accept a connection in time is an error, not a wait.
"""

from sqlalchemy import Engine, create_engine

CONNECT_TIMEOUT_SECONDS = 10


def server_engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, hide_parameters=True,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
