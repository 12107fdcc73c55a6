/*
 * admin.h - operator commands on a projection's bookkeeping: status rows
 * (checkpoint, end offset, lag per partition), pause/resume flag, skip.
 */
#ifndef SF_PROJ_ADMIN_H
#define SF_PROJ_ADMIN_H

#include "config.h"
#include "kmeta.h"

typedef struct sf_status_row {
    sf_tp_t tp;
    int64_t ckpt;  /* last applied offset, -1 none */
    int64_t epoch; /* fencing epoch, 0 none */
    int64_t lag;   /* hi - (ckpt + 1), at least 0; from lo when no ckpt */
    int64_t halt;  /* offset of an unhandled failed event, -1 none */
} sf_status_row_t;

/* Rows of every partition of pc's topics; *paused from sf:<p>:paused.
 * *rows is malloc()ed. */
sf_err_t sf_status_collect(const sf_config_t *cfg, const sf_pconf_t *pc,
                           sf_status_row_t **rows, size_t *n, int *paused,
                           char *errstr, size_t errstr_size);

/* Sets (paused=1) or deletes the pause flag. */
sf_err_t sf_admin_pause(const sf_config_t *cfg, const sf_pconf_t *pc,
                        int paused, char *errstr, size_t errstr_size);

/* Moves the checkpoint of topic/partition forward to offset (the event at
 * offset counts as done).  *prev receives the previous checkpoint.
 * SF_ERR_STATE when offset is not ahead of the checkpoint. */
sf_err_t sf_admin_skip(const sf_config_t *cfg, const sf_pconf_t *pc,
                       const char *topic, int32_t partition, int64_t offset,
                       int64_t *prev, char *errstr, size_t errstr_size);

#endif
