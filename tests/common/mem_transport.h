/* An in-memory mla_transport (transport.h) for tests: P "ranks" are threads of one
 * process, joined by one FIFO per ordered pair of ranks. send never blocks; recv
 * waits for the next message from that rank and fails (MLA_ERR_FORMAT) when its size
 * is not the one asked for; bcast is rank 0 sending to every other rank. */
#ifndef MLAUDIT_TESTS_MEM_TRANSPORT_H
#define MLAUDIT_TESTS_MEM_TRANSPORT_H

#include <stdbool.h>

#include "mlaudit/transport.h"

enum { MEM_MAX_RANKS = 4 };

typedef struct mem_box mem_box;

/* A mailbox for `size` ranks (1..MEM_MAX_RANKS); NULL when out of memory. */
mem_box *mem_box_create(int size);
/* Frees the box and any message left unread. */
void mem_box_free(mem_box *b);
/* Rank `rank`'s endpoint (its user pointer borrows the box). */
mla_transport mem_box_endpoint(mem_box *b, int rank);
/* Whether every message sent has been read. */
bool mem_box_empty(mem_box *b);

#endif
