/*
 * err.h -- the project's one error enum.
 *
 * Every function that can fail returns int: >= 0 is success (often a count),
 * a negative value is one of these. FR_EAGAIN ("would block") is an ordinary
 * outcome for non-blocking work, not a failure. Connections and sinks keep a
 * sticky error (code + fixed message buffer of ERR_MSG_MAX) until reset.
 */
#ifndef FR_ERR_H
#define FR_ERR_H

#define ERR_MSG_MAX 256

enum fr_err {
	FR_OK = 0,
	FR_EAGAIN = -1,   /* would block; try again when the fd is ready */
	FR_ENOMEM = -2,   /* a fixed pool or the arena is exhausted */
	FR_EINVAL = -3,   /* bad input: malformed, out of range, unknown */
	FR_EIO = -4,      /* a read, write, fsync or socket call failed */
	FR_ECONFIG = -5,  /* configuration rejected */
	FR_ERANGE = -6,   /* a value does not fit its fixed buffer or type */
	FR_ECLOSED = -7,  /* the peer closed the connection */
	FR_ETIMEDOUT = -8,
	FR_EPROTO = -9,   /* the peer broke the protocol */
	FR_EFULL = -10,   /* a queue, ring or journal is full */
};

/* A static, human-readable name for an error code ("would block", ...). */
const char *err_str(int err);

#endif
