"""The test PostgreSQL server is real: started by the tests, on a Unix socket, durable commits."""

from __future__ import annotations

import psycopg


def test_a_real_server_on_a_unix_socket(pg_url: str, pg_server) -> None:
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        assert int(version.split(".")[0]) >= 13
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""  # no TCP port
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"
    assert (pg_server.socket / ".s.PGSQL.5432").exists()


def test_each_test_gets_its_own_database(pg_server) -> None:
    a, b = pg_server.new_database(), pg_server.new_database()
    assert a != b
    with psycopg.connect(a) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(b) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone()[0] is None
