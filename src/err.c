#include "err.h"

/* see err.h */
const char *err_str(int err)
{
	switch (err) {
	case FR_OK: return "ok";
	case FR_EAGAIN: return "would block";
	case FR_ENOMEM: return "out of memory";
	case FR_EINVAL: return "invalid input";
	case FR_EIO: return "i/o error";
	case FR_ECONFIG: return "configuration error";
	case FR_ERANGE: return "value out of range";
	case FR_ECLOSED: return "connection closed";
	case FR_ETIMEDOUT: return "timed out";
	case FR_EPROTO: return "protocol error";
	case FR_EFULL: return "full";
	}
	return "unknown error";
}
