/* crc64.c - CRC-64-AVRO (Rabin) fingerprint, Avro spec "Schema Fingerprints".
 */
#include "sf_schema.h"

#define SF_CRC64_EMPTY 0xc15d213aa4d7a795ULL

#include <pthread.h>

/* The table is built once, on first use (as in the spec's reference code). */
static uint64_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (SF_CRC64_EMPTY & (0 - (fp & 1)));
        crc_table[i] = fp;
    }
}

uint64_t sf_crc64_avro(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t fp = SF_CRC64_EMPTY;

    pthread_once(&crc_once, crc_init);
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc_table[(fp ^ p[i]) & 0xff];
    return fp;
}
