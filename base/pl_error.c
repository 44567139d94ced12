/* pl_error.c — texts for the project's error codes. */
#include "pl_error.h"

#include <errno.h>

const char *pl_strerror(int err)
{
	switch (err) {
	case PL_OK: return "ok";
	case PL_ENOMEM: return "out of memory";
	case PL_EINVAL: return "invalid argument";
	case PL_ENOTFOUND: return "not found";
	case PL_EEXIST: return "already exists";
	case PL_EIO: return "I/O error";
	case PL_EMAPFULL: return "LMDB map full";
	case PL_ECORRUPT: return "corrupt data";
	case PL_EFOREIGN: return "not a pledged data directory";
	case PL_EBUSY: return "in use by another process";
	case PL_ENOSPACE: return "no space left on device";
	case PL_EKAFKA: return "Kafka error";
	case PL_EREJECTED: return "event rejected";
	case PL_EUPGRADE: return "data dir of an older format";
	case PL_ENEWER: return "data dir of a newer format";
	case PL_ECHECKSUM: return "checksum mismatch";
	case PL_EACCESS: return "permission denied";
	case PL_ELOCKGONE: return "lock.mdb missing or damaged while another process has the data dir open";
	case PL_ENOFILES: return "too many open files";
	case PL_EROFS: return "read-only file system";
	}
	return "unknown error";
}

int pl_from_errno(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return PL_ENOSPACE;
	case EACCES:
	case EPERM:
		return PL_EACCESS;
	case EROFS:
		return PL_EROFS;
	case ENOMEM:
		return PL_ENOMEM;
	case EMFILE:
	case ENFILE:
		return PL_ENOFILES;
	}
	return PL_EIO;
}
