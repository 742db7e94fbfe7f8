/* The MPI implementation of mla_transport (transport.h), the one file of the project
 * that calls MPI; shared by `mlaudit fl` and `mlaudit mia` (--backend mpi). Compiled
 * with MPI when the build found it (MLA_HAVE_MPI); otherwise every entry point reports
 * that the build lacks it. Messages of any size go as chunks of at most 1 GiB on one
 * tag, so MPI's ordering per sender keeps them in the order sent. */
#include <stdlib.h>
#include <string.h>

#include "mlaudit/transport.h"

bool mla_mpi_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

#ifdef MLA_HAVE_MPI
#include <limits.h>
#include <mpi.h>

bool mla_mpi_built(void) { return true; }

/* Messages of any size, as chunks of at most 1 GiB (MPI counts are ints). */
#define CHUNK ((size_t)1 << 30)

static mla_status mpi_fail(int rc, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return mla_error(MLA_ERR_IO, "MPI %s failed: %.*s", what, len, text);
}

static mla_status mpi_send(void *user, const void *buf, size_t bytes, int to) {
    (void)user;
    size_t at = 0;
    do {
        size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        int rc = MPI_Send((const char *)buf + at, (int)n, MPI_BYTE, to, 17, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "send");
        at += n;
    } while (at < bytes);
    return MLA_OK;
}

static mla_status mpi_recv(void *user, void *buf, size_t bytes, int from) {
    (void)user;
    size_t at = 0;
    do {
        size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        int rc = MPI_Recv((char *)buf + at, (int)n, MPI_BYTE, from, 17, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "receive");
        at += n;
    } while (at < bytes);
    return MLA_OK;
}

static mla_status mpi_bcast(void *user, void *buf, size_t bytes) {
    (void)user;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        int rc = MPI_Bcast((char *)buf + at, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "broadcast");
    }
    return MLA_OK;
}

mla_status mla_mpi_open(int *argc, char ***argv, const char *command, mla_transport *t) {
    memset(t, 0, sizeof *t);
    if (!mla_mpi_launched())
        return mla_error(MLA_ERR_UNSUPPORTED,
                         "--backend mpi must be started by mpirun (mpirun -np P mlaudit %s ... --backend mpi)", command);
    int provided = 0;
    /* SERIALIZED: worker threads take turns (an OpenMP ordered section) to send. */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return mla_error(MLA_ERR_IO, "MPI_Init_thread failed");
    if (provided < MPI_THREAD_SERIALIZED) {
        MPI_Finalize();
        return mla_error(MLA_ERR_UNSUPPORTED, "this MPI library does not allow calls from several threads in turn");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->size);
    t->send = mpi_send;
    t->recv = mpi_recv;
    t->bcast = mpi_bcast;
    return MLA_OK;
}

void mla_mpi_close(mla_transport *t) {
    (void)t;
    MPI_Finalize();
}

void mla_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

#else

bool mla_mpi_built(void) { return false; }

mla_status mla_mpi_open(int *argc, char ***argv, const char *command, mla_transport *t) {
    (void)argc, (void)argv, (void)command;
    memset(t, 0, sizeof *t);
    return mla_error(MLA_ERR_UNSUPPORTED,
                     "this build has no MPI support (install openmpi-bin and libopenmpi-dev, e.g. scripts/deps.sh "
                     "mpi, and rebuild)");
}

void mla_mpi_close(mla_transport *t) { (void)t; }

void mla_mpi_abort(int code) { exit(code); }

#endif
