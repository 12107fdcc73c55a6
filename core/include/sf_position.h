/*
 * sf_position.h - the position of one event in the log, as a token a
 * service can hand around (read your own writes, libsfcore).
 *
 * A position is (topic, partition, offset): where Kafka stored the
 * record, as the producer's delivery report says.  Its token is the
 * string
 *
 *     <topic>:<partition>:<offset>        e.g.  cart-events:2:1234
 *
 * partition and offset in decimal without sign or leading zeros.  The
 * form is stable: libsfproducer's sf_producer_dr_position() writes it,
 * `sf-projector wait` and sf_projector_waiter_wait() read it.  It is
 * unambiguous because a Kafka topic name holds only [a-zA-Z0-9._-]
 * (Kafka's Topic.validate: no ':'), so the last two ':' split it.
 *
 * A projection has applied a position when the checkpoint of that topic
 * and partition is >= offset (projector/README.md, "Read your own
 * writes").
 *
 * Threading: no state; every function is thread-safe.  Errors: one line in
 * errstr, nothing printed.
 */
#ifndef SF_POSITION_H
#define SF_POSITION_H

#include <stddef.h>
#include <stdint.h>

#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* Longest token for a topic of Kafka's maximum length (249) plus two
 * decimal numbers, with the NUL. */
#define SF_POSITION_TOKEN_MAX 288

/* Writes the token of (topic, partition, offset) into out like snprintf:
 * at most out_size bytes with the NUL; returns the token's length (so a
 * result >= out_size means out was too small), or 0 when the position is
 * invalid (empty topic or one holding ':', negative partition or
 * offset). */
size_t sf_position_format(char *out, size_t out_size, const char *topic,
                          int32_t partition, int64_t offset);

/* Parses token.  The topic is copied into topic (NUL-terminated, at most
 * topic_size bytes).  SF_ERR_PARSE naming the token and what is wrong
 * when it is not "<topic>:<partition>:<offset>" with a valid topic name
 * and non-negative decimal numbers in range. */
sf_err_t sf_position_parse(const char *token, char *topic, size_t topic_size,
                           int32_t *partition, int64_t *offset, char *errstr,
                           size_t errstr_size);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SF_POSITION_H */
