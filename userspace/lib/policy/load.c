// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Where documents come from: a file, a directory (every *.json in it,
 * sorted, symlinks followed, not recursive) or "-" (stdin, named "<stdin>"
 * in messages). A path that cannot be read is a problem too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "policy_internal.h"

static int read_fd(int fd, char **out, size_t *out_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	ssize_t r;

	for (;;) {
		if (nfp_grow((void **)&buf, &cap, len + 65536, 1)) {
			free(buf);
			return -ENOMEM;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			free(buf);
			return (int)r;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

static int load_file(struct nf_docset *ds, const char *path, const char *name)
{
	size_t len = 0;
	char *buf = NULL;
	int fd, err;

	if (!strcmp(path, "-")) {
		err = read_fd(STDIN_FILENO, &buf, &len);
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
		} else {
			err = read_fd(fd, &buf, &len);
			close(fd);
		}
	}
	if (err) {
		nfp_ds_problemf(ds, "%s: cannot read: %s", name, strerror(-err));
		return err;
	}
	err = policy__load_json(ds, name, buf, len);
	free(buf);
	return err;
}

static bool is_json_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && !strcmp(n + l - 5, ".json");
}

static int load_dir(struct nf_docset *ds, const char *path)
{
	size_t n = 0, cap = 0, i;
	char **files = NULL;
	struct dirent *de;
	int err = 0;
	DIR *d;

	d = opendir(path);
	if (!d) {
		err = -errno;
		nfp_ds_problemf(ds, "%s: cannot read: %s", path, strerror(-err));
		return err;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		char *full;
		size_t pl = strlen(path);

		if (!is_json_name(de->d_name))
			continue;
		if (asprintf(&full, "%s%s%s", path, pl && path[pl - 1] == '/' ? "" : "/",
			     de->d_name) < 0) {
			err = -ENOMEM;
			break;
		}
		/* Follow symlinks (a mounted ConfigMap's files are symlinks). */
		if (stat(full, &st) || !S_ISREG(st.st_mode)) {
			free(full);
			continue;
		}
		if (nfp_grow((void **)&files, &cap, n + 1, sizeof(char *))) {
			free(full);
			err = -ENOMEM;
			break;
		}
		files[n++] = full;
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (err) {
		nfp_ds_problemf(ds, "%s: cannot read: %s", path, strerror(-err));
	} else {
		if (n > 1)
			qsort(files, n, sizeof(char *), nfp_cmp_str);
		for (i = 0; i < n; i++)
			if (load_file(ds, files[i], files[i]) == -ENOMEM)
				err = -ENOMEM;
	}
	for (i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return err;
}

int policy__load_path(struct nf_docset *ds, const char *path)
{
	struct stat st;
	int err;

	if (!strcmp(path, "-"))
		return load_file(ds, "-", "<stdin>");
	if (stat(path, &st)) {
		err = -errno;
		nfp_ds_problemf(ds, "%s: cannot read: %s", path, strerror(-err));
		return err;
	}
	if (S_ISDIR(st.st_mode))
		return load_dir(ds, path);
	return load_file(ds, path, path);
}
