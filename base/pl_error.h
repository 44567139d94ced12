/*
 * pl_error.h — the project's one error enum.
 *
 * Every function that can fail returns 0 on success or a negative PL_E*
 * code from here. Library codes (LMDB, librdkafka, libevent) are translated
 * into these in one place per library.
 */
#ifndef PL_ERROR_H
#define PL_ERROR_H

enum pl_error {
	PL_OK = 0,
	PL_ENOMEM = -1,     /* allocation failed */
	PL_EINVAL = -2,     /* bad argument or input */
	PL_ENOTFOUND = -3,  /* key or object does not exist */
	PL_EEXIST = -4,     /* key already exists */
	PL_EIO = -5,        /* I/O or storage failure */
	PL_EMAPFULL = -6,   /* LMDB map is full: grow and retry */
	PL_ECORRUPT = -7,   /* stored data does not have the expected shape */
	PL_EFOREIGN = -8,   /* data dir belongs to something else */
	PL_EBUSY = -9,      /* resource in use (e.g. data dir locked) */
	PL_ENOSPACE = -10,  /* disk full */
	PL_EKAFKA = -11,    /* librdkafka error */
	PL_EREJECTED = -12, /* an event broke a rule; see the rejection */
	PL_EUPGRADE = -13,  /* data dir of an older format: `pledged upgrade` */
	PL_ENEWER = -14,    /* data dir of a newer format than this build */
	PL_ECHECKSUM = -15, /* a stored record does not match its checksum */
	PL_EACCESS = -16,   /* the files' permissions do not allow it */
	PL_ELOCKGONE = -17, /* lock.mdb missing or damaged while others have the data dir open */
	PL_ENOFILES = -18,  /* the process's (or system's) limit of open files */
	PL_EROFS = -19,     /* a file system mounted read-only */
};

/* A short, human-readable text for a PL_E* code. Never NULL. */
const char *pl_strerror(int err);

/* The code for errno e of a failed file-system call: no space, no access,
 * a read-only file system, no memory, too many open files, else PL_EIO. */
int pl_from_errno(int e);

#endif
