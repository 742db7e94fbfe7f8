/* Messages between the processes of one distributed job (ranks), shared by every
 * subsystem that runs over several processes: federated averaging (fl.h) and the
 * membership audit's shadow models (mia.h). A subsystem only sees mla_transport, so
 * it never depends on MPI; the one MPI implementation is src/core/transport_mpi.c,
 * compiled with MPI when the build found it (CMake's MLA_MPI), and a test can join
 * threads by an in-memory transport instead. */
#ifndef MLAUDIT_TRANSPORT_H
#define MLAUDIT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Point-to-point messages in order (what one rank sends to another arrives in the order
 * sent) and a broadcast from rank 0. Each call moves exactly `bytes` bytes; a failure
 * returns non-OK with a message. Borrowed by the configs that use it. */
typedef struct {
    void *user;
    int rank, size;          /* this process's rank in [0, size) */
    mla_status (*send)(void *user, const void *buf, size_t bytes, int to);
    mla_status (*recv)(void *user, void *buf, size_t bytes, int from);
    mla_status (*bcast)(void *user, void *buf, size_t bytes); /* from rank 0 to all */
} mla_transport;

/* ---- the MPI transport (transport_mpi.c; without MPI support every call fails clearly) ---- */
/* Whether this build has MPI support. */
bool mla_mpi_built(void);
/* Whether the process was started by mpirun (Open MPI's or PMIx's rank variables). */
bool mla_mpi_launched(void);
/* Initialises MPI (thread level SERIALIZED) and fills *t for MPI_COMM_WORLD. `command`
 * (e.g. "fl") names the subcommand in the message given outside mpirun.
 * MLA_ERR_UNSUPPORTED without MPI support or outside mpirun. */
mla_status mla_mpi_open(int *argc, char ***argv, const char *command, mla_transport *t);
/* Finalises MPI (after a successful run). */
void mla_mpi_close(mla_transport *t);
/* Ends every rank of the job with this exit code (after an error on one rank). */
void mla_mpi_abort(int code);

#ifdef __cplusplus
}
#endif
#endif
