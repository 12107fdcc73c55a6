/*
 * admin.h - operator commands on a projection's bookkeeping: status rows
 * (checkpoint, end offset, lag per partition), pause/resume flag, skip.
 */
#ifndef SF_PROJ_ADMIN_H
#define SF_PROJ_ADMIN_H

#include "config.h"
#include "groups.h"
#include "kmeta.h"

typedef struct sf_status_row {
    sf_tp_t tp;
    int64_t ckpt;      /* last applied offset, -1 none */
    int64_t epoch;     /* fencing epoch, 0 none */
    int64_t lag;       /* events not applied: hi - (ckpt + 1), from lo when no
                          ckpt; a committed offset ahead of ckpt + 1 counts
                          only when the records between hold no event */
    int64_t halt;      /* offset of an unhandled failed event, -1 none */
    int64_t skips;     /* `skip` commands run on the partition */
    char report[32];   /* the holding worker's last state report (ok,
                          stuck, fenced, paused, dlq-failing, halted), ""
                          when none (control.h) */
    int64_t report_ms; /* its time */
    char member[128];  /* the worker that reported */
} sf_status_row_t;

/* Rows of every partition of pc's topics; *paused from sf:<p>:paused.
 * *rows is malloc()ed. */
sf_err_t sf_status_collect(const sf_config_t *cfg, const sf_pconf_t *pc,
                           sf_status_row_t **rows, size_t *n, int *paused,
                           char *errstr, size_t errstr_size);

/* The consumer group's state and members (groups.h). */
sf_err_t sf_status_group(const sf_config_t *cfg, const sf_pconf_t *pc,
                         char *state, size_t state_size, sf_member_t **members,
                         size_t *n, char *errstr, size_t errstr_size);

/* Sets (paused=1) or deletes the pause flag, then waits until every
 * member of the projection's consumer group acknowledged the new pause
 * generation (control.h): once this returns SF_OK no worker applies
 * anything (pause) / every worker applies again (resume).  *acked: the
 * workers that acknowledged.  SF_ERR_TIMEOUT after timeout_ms names the
 * workers that did not (the flag stays set/cleared).  lease_ms: see
 * sf_ctl_pause_set (0 for the operator's pause, which never expires). */
sf_err_t sf_admin_pause(const sf_config_t *cfg, const sf_pconf_t *pc,
                        int paused, int64_t lease_ms, int timeout_ms,
                        size_t *acked, char *errstr, size_t errstr_size);

typedef struct sf_skip_info {
    int64_t prev;     /* checkpoint before, -1 none */
    int64_t blocking; /* the offset blocking the partition */
    int64_t skipped;  /* events passed by this skip */
    int64_t count;    /* skips on this partition so far (Redis counter) */
} sf_skip_info_t;

/* Moves the checkpoint of topic/partition to offset: the event at offset
 * counts as done.  offset must be the event blocking the partition (its
 * halt record, else checkpoint + 1); with force, any later offset before
 * the end (the events between are passed too).  Refused, nothing changed:
 * SF_ERR_INVALID_ARG for a topic the projection does not read or a
 * partition that does not exist; SF_ERR_STATE for an offset past the end,
 * already applied, or (without force) not the blocking one.  Every skip
 * is counted (sf:<p>:skips:<topic>:<partition>) and its offsets recorded
 * for rebuild (control.h). */
sf_err_t sf_admin_skip(const sf_config_t *cfg, const sf_pconf_t *pc,
                       const char *topic, int32_t partition, int64_t offset,
                       int force, sf_skip_info_t *info, char *errstr,
                       size_t errstr_size);

#endif
