/*
 * err.c: error descriptions.
 *
 * Design notes: rn_strerror() must be safe from any thread and never
 * allocate, so domain errors map to static strings and -errno values go
 * through strerrordesc_np(), which returns static text without touching
 * the locale.
 */

#include <string.h>

#include "proto/proto.h"

const char *rn_strerror(int rc)
{
	switch (rc) {
	case RN_OK:
		return "success";
	case RN_EPARSE:
		return "parse error";
	case RN_ETRUNC:
		return "truncated input";
	case RN_ELIMIT:
		return "limit exceeded";
	case RN_ECONF:
		return "invalid configuration";
	case RN_ESIG:
		return "bad signature";
	case RN_EKEY:
		return "unknown or revoked key";
	case RN_EREPLAY:
		return "sequence not newer than the last applied";
	case RN_EEPOCH:
		return "epoch rolled back";
	case RN_EDIGEST:
		return "state digest mismatch";
	case RN_EEXPIRED:
		return "expired";
	case RN_ECHECKSUM:
		return "checksum mismatch";
	case RN_EVERSION:
		return "unsupported version";
	case RN_ENOTFOUND:
		return "not found";
	case RN_EEXIST:
		return "already exists";
	case RN_ESTATE:
		return "invalid state";
	case RN_ETEMPLATE:
		return "unknown template";
	case RN_EOVERLONG:
		return "line or record too long";
	case RN_EBUS:
		return "message bus error";
	case RN_ENETLINK:
		return "netlink error";
	case RN_EQUARANTINE:
		return "quarantined";
	case RN_EBADLEN:
		return "inconsistent length";
	case RN_EUNSUPP:
		return "not supported";
	case RN_EINTERNAL:
		return "internal error";
	default:
		break;
	}
	if (rc < 0 && rc > -4096) {
		const char *s = strerrordesc_np(-rc);
		if (s != NULL)
			return s;
	}
	return "unknown error";
}
