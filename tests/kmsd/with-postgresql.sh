#!/bin/bash
# with-postgresql.sh PROGRAM [ARGS...]: runs PROGRAM with KMSD_TEST_PG_URI and KMSD_TEST_PG_PASSFILE naming a
# PostgreSQL cluster started for it alone on loopback (tests/integration/pg.sh: initdb in a temporary directory, a
# free port, stopped by PID and removed after). Exits with PROGRAM's status.
PYTHON=${TEST_PYTHON:-python3}
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/pg.sh"
pg_start
KMSD_TEST_PG_URI="$PG_URI" KMSD_TEST_PG_PASSFILE="$PG_PASSFILE" "$@"
rc=$?
exit $rc
