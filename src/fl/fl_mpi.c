/* The MPI transport of federated runs (compiled with MPI when the build found it:
 * MLA_HAVE_MPI; otherwise every entry point reports that the build lacks it).
 *
 * How the global model stays byte-identical to one process for any rank count: the
 * average is a double sum taken in client-id order (fl.h). Rank 0 receives each of
 * the other ranks' clients as its own message (a report header, then the client's
 * flat float vector) exactly when that client's turn in the sum comes, so it adds the
 * same numbers in the same order as --backend local; an MPI_Reduce of per-rank
 * partial sums would add them in another order (rank by rank) and change the last
 * bits. Clients are dealt round-robin over the round's reporting clients (position
 * p to rank p mod P), which keeps every rank busy and lets a rank's sends be
 * received while rank 0 trains its next client. The new model is broadcast from rank
 * 0 after every round. */
#include <stdlib.h>
#include <string.h>

#include "mlaudit/fl.h"

bool mla_fl_mpi_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

#ifdef MLA_HAVE_MPI
#include <limits.h>
#include <mpi.h>

bool mla_fl_mpi_built(void) { return true; }

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

mla_status mla_fl_mpi_open(int *argc, char ***argv, mla_fl_transport *t) {
    memset(t, 0, sizeof *t);
    if (!mla_fl_mpi_launched())
        return mla_error(MLA_ERR_UNSUPPORTED,
                         "--backend mpi must be started by mpirun (mpirun -np P mlaudit fl ... --backend mpi)");
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

void mla_fl_mpi_close(mla_fl_transport *t) {
    (void)t;
    MPI_Finalize();
}

void mla_fl_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

#else

bool mla_fl_mpi_built(void) { return false; }

mla_status mla_fl_mpi_open(int *argc, char ***argv, mla_fl_transport *t) {
    (void)argc, (void)argv;
    memset(t, 0, sizeof *t);
    return mla_error(MLA_ERR_UNSUPPORTED,
                     "this build has no MPI support (install openmpi-bin and libopenmpi-dev, e.g. scripts/deps.sh "
                     "mpi, and rebuild)");
}

void mla_fl_mpi_close(mla_fl_transport *t) { (void)t; }

void mla_fl_mpi_abort(int code) { exit(code); }

#endif
