/*
 * embedded_projector.c - the projector inside a program of your own: it
 * does not take over main(), and stops when asked (here by SIGINT/SIGTERM;
 * a service would call sf_projector_stop() from its own shutdown path).
 *
 *   embedded-projector CONFIG [PROJECTION...]
 *
 * Exit 0 after a clean stop, 2 on a configuration error, 1 otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sf_projector.h"

static sf_projector_t *projector;

static void on_signal(int sig) {
    (void)sig;
    sf_projector_stop(projector); /* async-signal-safe */
}

static void log_line(const char *level, const char *line) {
    fprintf(stderr, "%s %s\n", level, line);
}

int main(int argc, char **argv) {
    char err[1024];
    if (argc < 2) {
        fprintf(stderr, "usage: embedded-projector CONFIG [PROJECTION...]\n");
        return 2;
    }
    sf_projector_set_log_cb(log_line);
    if (sf_projector_new(argv[1], (const char *const *)argv + 2,
                         (size_t)argc - 2, &projector, err, sizeof(err))) {
        fprintf(stderr, "embedded-projector: %s\n", err);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sf_err_t e = sf_projector_run(projector, err, sizeof(err));
    if (e)
        fprintf(stderr, "embedded-projector: %s\n", err);
    sf_projector_destroy(projector);
    return e ? 1 : 0;
}
