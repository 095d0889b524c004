/** @file
 * Secret files given as `*_file` config references. A file readable or
 * writable by group or others is refused, so a secret never sits in a
 * world-readable place. Contents have one trailing newline ("\n" or "\r\n")
 * removed. A symbolic link is not followed on read (GW_EIO).
 */
#ifndef USSDGW_SECFILE_H
#define USSDGW_SECFILE_H

#include <stddef.h>

/** Largest secret file read (bytes). */
#define SECFILE_MAX 65536

/** Check that @p path is a regular file with no group/other permission bits; 0 or GW_EINSECURE/GW_ENOENT. */
int secfile_check_mode(const char *path);
/**
 * Read a secret file after secfile_check_mode(). *out is malloc'd and
 * NUL-terminated; free it with secfile_free(), which wipes it.
 */
int secfile_read(const char *path, char **out, size_t *len);
void secfile_free(char *secret, size_t len);

#endif
