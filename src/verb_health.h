/*
 * verb_health.h -- `fillrelay health [-c FILE] [HOST:PORT]`: asks a running
 * fillrelay's GET /healthz (metrics.h) and prints the JSON it answers.
 *
 * The address is HOST:PORT when given ("[::1]:9464" for IPv6), else the
 * configuration's metrics_addr, else 127.0.0.1:9464 when no configuration
 * file exists (a container's HEALTHCHECK may run it bare). HOST must be an
 * IP literal or "localhost". Connect, request and answer together take at
 * most VERB_HEALTH_TIMEOUT_MS.
 *
 * Exit status, for Docker's HEALTHCHECK (0 healthy, 1 unhealthy): 0 when the
 * answer is 200, 1 for any other answer or when nothing answers (the reason
 * on stderr), EX_USAGE (64) for a bad address.
 */
#ifndef FR_VERB_HEALTH_H
#define FR_VERB_HEALTH_H

#define VERB_HEALTH_TIMEOUT_MS 3000

/* host and port: the address to ask. */
int verb_health(const char *host, unsigned port);

/* Splits "HOST:PORT" / "[V6]:PORT" into host (cap bytes) and *port.
 * 0 or -1. */
int verb_health_parse_addr(const char *s, char *host, unsigned cap, unsigned *port);

#endif
