/*
 * cloudevents.c - the checks that keep every record a valid CloudEvent
 * (CloudEvents 1.0 core spec and its Kafka protocol binding), made before
 * anything is sent, and the ce_dataschema of a writer schema.
 *
 * Why here and not in the consumers: a record the CloudEvents SDKs refuse
 * (e.g. a source "cart service", not a URI-reference) is refused whole by
 * every generic consumer, while Streamfold's own projector would happily
 * fold it - the log would hold events half of the world cannot read.
 */
#include "producer_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * URI-reference (RFC 3986, section 4.1)
 *
 *   URI-reference = URI / relative-ref
 *   URI           = scheme ":" hier-part [ "?" query ] [ "#" fragment ]
 *   relative-ref  = relative-part [ "?" query ] [ "#" fragment ]
 *   scheme        = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
 *
 * We check the character level, which is what tells "cart service" or
 * "shop/cart%zz" apart from a URI: every character is unreserved,
 * sub-delims, ":", "@", "/", "?", "#", or a "%" followed by two hex digits;
 * "[" and "]" only inside an authority's host (IP-literal); at most one
 * "#", with no "#" in the fragment.  A reference without a scheme must not
 * have ":" in its first path segment (path-noscheme), otherwise the part
 * before ":" would be read as a scheme that is not one.  Authority and
 * port syntax is not checked further (an empty host is valid RFC 3986).
 * ------------------------------------------------------------------- */

static int is_alpha(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c) {
    return c >= '0' && c <= '9';
}

static int is_hex(int c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* unreserved / sub-delims / ":" / "@" / "/" / "?" : the characters of
 * pchar, query and fragment besides pct-encoded. */
static int is_uri_char(int c) {
    return is_alpha(c) || is_digit(c) || strchr("-._~!$&'()*+,;=:@/?", c);
}

int sf__ce_check_uri_reference(const char *s, char *why, size_t size) {
    const char *p, *colon = NULL, *hash = NULL, *auth = NULL, *auth_end;
    int has_scheme = 0;

    if (!*s) {
        snprintf(why, size, "empty");
        return -1;
    }
    /* scheme ":" ? */
    if (is_alpha((unsigned char)s[0])) {
        for (p = s + 1; is_alpha((unsigned char)*p) || is_digit(*p) ||
                        *p == '+' || *p == '-' || *p == '.';
             p++)
            ;
        if (*p == ':')
            has_scheme = 1, colon = p;
    }
    p = has_scheme ? colon + 1 : s;
    if (p[0] == '/' && p[1] == '/') {
        auth = p + 2;
        auth_end = auth + strcspn(auth, "/?#");
    } else {
        auth_end = NULL;
    }
    if (!has_scheme) {
        /* path-noscheme: no ":" before the first "/", "?" or "#" */
        size_t seg = strcspn(s, "/?#");

        if (!auth && memchr(s, ':', seg)) {
            snprintf(why, size,
                     "\":\" at offset %d in the first path "
                     "segment of a reference without a scheme (a scheme "
                     "starts with a letter: letters, digits, \"+-.\")",
                     (int)((const char *)memchr(s, ':', seg) - s));
            return -1;
        }
    }
    for (p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int off = (int)(p - s);

        if (c == '%') {
            if (!is_hex((unsigned char)p[1]) || !is_hex((unsigned char)p[2])) {
                snprintf(why, size,
                         "\"%%\" at offset %d is not followed by "
                         "two hex digits",
                         off);
                return -1;
            }
            p += 2;
            continue;
        }
        if (c == '#') {
            if (hash) {
                snprintf(why, size, "second \"#\" at offset %d", off);
                return -1;
            }
            hash = p;
            continue;
        }
        if ((c == '[' || c == ']') && auth && p >= auth && p < auth_end)
            continue; /* IP-literal host */
        if (!is_uri_char(c)) {
            if (c == ' ')
                snprintf(why, size,
                         "space at offset %d (write it as %%20, "
                         "or use \"-\")",
                         off);
            else if (c < 0x20 || c == 0x7f)
                snprintf(why, size, "control character 0x%02x at offset %d", c,
                         off);
            else if (c >= 0x80)
                snprintf(why, size,
                         "non-ASCII byte 0x%02x at offset %d "
                         "(percent-encode its UTF-8 bytes)",
                         c, off);
            else
                snprintf(why, size,
                         "character '%c' at offset %d is not "
                         "allowed in a URI",
                         c, off);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * W3C Trace Context, "traceparent" (section 3.2, version 00):
 *   00-<32 lowercase hex trace-id>-<16 lowercase hex parent-id>-<2 hex flags>
 * trace-id and parent-id must not be all zeros; version ff is invalid.
 * Later versions may append "-..." fields, which we accept unchecked.
 * ------------------------------------------------------------------- */

static int lower_hex_run(const char *s, size_t n, int *all_zero) {
    *all_zero = 1;
    for (size_t i = 0; i < n; i++) {
        if (!(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
            return -1;
        if (s[i] != '0')
            *all_zero = 0;
    }
    return 0;
}

int sf__ce_check_traceparent(const char *v, size_t len, char *why,
                             size_t size) {
    int zero;

    if (len < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' ||
        lower_hex_run(v, 2, &zero) || lower_hex_run(v + 3, 32, &zero)) {
        snprintf(why, size,
                 "not a W3C traceparent "
                 "(00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>)");
        return -1;
    }
    if (zero) {
        snprintf(why, size, "trace-id is all zeros (W3C Trace Context)");
        return -1;
    }
    if (lower_hex_run(v + 36, 16, &zero) || zero) {
        snprintf(why, size,
                 "parent-id is not 16 lowercase hex digits, "
                 "not all zeros (W3C Trace Context)");
        return -1;
    }
    if (lower_hex_run(v + 53, 2, &zero)) {
        snprintf(why, size, "trace-flags is not 2 lowercase hex digits");
        return -1;
    }
    if (!memcmp(v, "ff", 2)) {
        snprintf(why, size, "version ff is invalid (W3C Trace Context)");
        return -1;
    }
    if (!memcmp(v, "00", 2) ? len != 55 : (len > 55 && v[55] != '-')) {
        snprintf(why, size, "not a W3C traceparent: %s",
                 !memcmp(v, "00", 2)
                     ? "version 00 has exactly 55 characters"
                     : "unexpected characters after trace-flags");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Extra headers
 * ------------------------------------------------------------------- */

/* Headers the library writes itself; an application header with one of
 * these names would contradict (or duplicate) them. */
static const char *const reserved[] = {
    SF_HDR_SPECVERSION,
    SF_HDR_ID,
    SF_HDR_SOURCE,
    SF_HDR_TYPE,
    SF_HDR_TIME,
    SF_HDR_SUBJECT,
    SF_HDR_CONTENT_TYPE,
    SF_HDR_AGGTYPE,
    SF_HDR_SEQUENCE,
    SF_HDR_CORRELATIONID,
    SF_HDR_CAUSATIONID,
    SF_HDR_DATASCHEMA,
    "ce_datacontenttype", /* the binding maps it to content-type */
    "ce_data",
};

int sf__ce_check_header(const char *name, const char *value, size_t len,
                        char *why, size_t size) {
    char sub[160];

    if (!*name) {
        snprintf(why, size, "header with an empty name");
        return -1;
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (!strcmp(name, reserved[i])) {
            snprintf(why, size,
                     "header \"%s\" is written by the library "
                     "(set it through the event's own setter)",
                     name);
            return -1;
        }
    if (!strncmp(name, "ce_", 3)) {
        /* CloudEvents 1.0, "Attribute Naming Convention": lower-case
         * ASCII letters and digits only. */
        const char *a = name + 3;

        if (!*a) {
            snprintf(why, size,
                     "header \"ce_\": empty CloudEvents "
                     "attribute name");
            return -1;
        }
        for (; *a; a++)
            if (!((*a >= 'a' && *a <= 'z') || is_digit(*a))) {
                snprintf(why, size,
                         "header \"%s\": a CloudEvents extension "
                         "attribute name has only lower-case letters and "
                         "digits (CloudEvents 1.0)",
                         name);
                return -1;
            }
    }
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f) {
            snprintf(why, size,
                     "header name \"%s\" contains a space or "
                     "control character",
                     name);
            return -1;
        }
    if (!strcmp(name, "traceparent") || !strcmp(name, "ce_traceparent")) {
        if (sf__ce_check_traceparent(value, len, sub, sizeof(sub))) {
            snprintf(why, size, "header \"%s\": %s", name, sub);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * ce_dataschema: which writer schema the value was written with.
 * ------------------------------------------------------------------- */

void sf__ce_dataschema(const sf_schema_t *s, char *buf, size_t size) {
    snprintf(buf, size, SF_DATASCHEMA_PREFIX "%016" PRIx64,
             sf_schema_fingerprint(s));
}
