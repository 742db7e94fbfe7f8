/* The in-memory transport of mem_transport.h. */
#include "common/mem_transport.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct msg {
    struct msg *next;
    size_t bytes;
    unsigned char data[];
} msg;

typedef struct {
    mem_box *box;
    int rank;
} endpoint;

struct mem_box {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    msg *head[MEM_MAX_RANKS][MEM_MAX_RANKS], *tail[MEM_MAX_RANKS][MEM_MAX_RANKS]; /* [from][to] */
    endpoint ends[MEM_MAX_RANKS];
    int size;
};

mem_box *mem_box_create(int size) {
    if (size < 1 || size > MEM_MAX_RANKS) return NULL;
    mem_box *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->size = size;
    for (int r = 0; r < size; r++) b->ends[r] = (endpoint){b, r};
    return b;
}

void mem_box_free(mem_box *b) {
    if (!b) return;
    for (int a = 0; a < MEM_MAX_RANKS; a++)
        for (int c = 0; c < MEM_MAX_RANKS; c++)
            for (msg *m = b->head[a][c], *next; m; m = next) next = m->next, free(m);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b);
}

bool mem_box_empty(mem_box *b) {
    pthread_mutex_lock(&b->lock);
    bool empty = true;
    for (int a = 0; a < MEM_MAX_RANKS; a++)
        for (int c = 0; c < MEM_MAX_RANKS; c++) empty = empty && !b->head[a][c];
    pthread_mutex_unlock(&b->lock);
    return empty;
}

static mla_status box_send(void *user, const void *buf, size_t bytes, int to) {
    endpoint *e = user;
    msg *m = malloc(sizeof *m + bytes);
    if (!m) return MLA_ERR_NOMEM;
    m->next = NULL;
    m->bytes = bytes;
    memcpy(m->data, buf, bytes);
    pthread_mutex_lock(&e->box->lock);
    msg **tail = &e->box->tail[e->rank][to];
    if (*tail) (*tail)->next = m;
    else e->box->head[e->rank][to] = m;
    *tail = m;
    pthread_cond_broadcast(&e->box->cond);
    pthread_mutex_unlock(&e->box->lock);
    return MLA_OK;
}

static mla_status box_recv(void *user, void *buf, size_t bytes, int from) {
    endpoint *e = user;
    pthread_mutex_lock(&e->box->lock);
    while (!e->box->head[from][e->rank]) pthread_cond_wait(&e->box->cond, &e->box->lock);
    msg *m = e->box->head[from][e->rank];
    e->box->head[from][e->rank] = m->next;
    if (!m->next) e->box->tail[from][e->rank] = NULL;
    pthread_mutex_unlock(&e->box->lock);
    mla_status s = m->bytes == bytes ? MLA_OK : mla_error(MLA_ERR_FORMAT, "message of %zu bytes, %zu expected",
                                                         m->bytes, bytes);
    if (!s) memcpy(buf, m->data, bytes);
    free(m);
    return s;
}

static mla_status box_bcast(void *user, void *buf, size_t bytes) {
    endpoint *e = user;
    if (e->rank != 0) return box_recv(user, buf, bytes, 0);
    for (int r = 1; r < e->box->size; r++) {
        mla_status s = box_send(user, buf, bytes, r);
        if (s) return s;
    }
    return MLA_OK;
}

mla_transport mem_box_endpoint(mem_box *b, int rank) {
    return (mla_transport){&b->ends[rank], rank, b->size, box_send, box_recv, box_bcast};
}
