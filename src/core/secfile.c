#include "ussdgw/secfile.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ussdgw/gw_error.h"

int secfile_check_mode(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? GW_ENOENT : GW_EIO;
	if (!S_ISREG(st.st_mode))
		return GW_EINVAL;
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return GW_EINSECURE;
	return 0;
}

int secfile_read(const char *path, char **out, size_t *len)
{
	int rc = secfile_check_mode(path);
	if (rc)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? GW_ENOENT : GW_EIO;
	/* Check again what was opened: the path may have been replaced after
	 * secfile_check_mode() looked at it. */
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
		close(fd);
		return GW_EINSECURE;
	}
	char *buf = malloc(SECFILE_MAX + 1);
	if (!buf) {
		close(fd);
		return GW_ENOMEM;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, SECFILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			secfile_free(buf, n);
			return GW_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > SECFILE_MAX) {
			close(fd);
			secfile_free(buf, n);
			return GW_EMSGSIZE;
		}
	}
	close(fd);
	/* One trailing newline: "\n" or "\r\n"; a lone '\r' is content. */
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

void secfile_free(char *secret, size_t len)
{
	if (!secret)
		return;
	OPENSSL_cleanse(secret, len);
	free(secret);
}
