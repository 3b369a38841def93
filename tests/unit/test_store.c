// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * store.c, on a temporary directory (never /run/netfence): whole-file
 * writes (content replaced, directories created, no temporary left), markers,
 * removal of the directories a file leaves empty, and the store's paths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>
#include "store.h"

static char root[] = "/tmp/nf-test-store.XXXXXX";

static char *slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_write(void **state)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];

	(void)state;
	snprintf(path, sizeof(path), "%s/a/b/file", root);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(store__write(path, "one", 3), 0);
	assert_string_equal(slurp(path), "one");
	assert_int_equal(store__write2(path, "{}", 2, "\n", 1), 0);
	assert_string_equal(slurp(path), "{}\n");
	assert_int_equal(access(tmp, F_OK), -1);
	/* a directory in the way: an error, the old content stays */
	assert_int_equal(mkdir(tmp, 0755), 0);
	assert_true(store__write(path, "two", 3) < 0);
	assert_string_equal(slurp(path), "{}\n");
	assert_int_equal(rmdir(tmp), 0);
}

static void test_touch_remove(void **state)
{
	char top[256], path[512], dir[384], other[384];

	(void)state;
	snprintf(top, sizeof(top), "%s/top", root);
	snprintf(dir, sizeof(dir), "%s/x/y", top);
	snprintf(path, sizeof(path), "%s/marker", dir);
	snprintf(other, sizeof(other), "%s/x/other", top);
	assert_int_equal(store__touch(path), 0);
	assert_int_equal(store__touch(path), 0);	/* exists: fine */
	assert_int_equal(store__touch(other), 0);
	store__remove(path, top);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(dir, F_OK), -1);	/* left empty: gone */
	assert_int_equal(access(other, F_OK), 0);	/* x still holds other */
	store__remove(other, top);
	assert_int_equal(access(other, F_OK), -1);
	assert_int_equal(access(top, F_OK), 0);		/* top itself stays */
	assert_int_equal(rmdir(top), 0);
}

static void test_paths(void **state)
{
	char buf[PATH_MAX], small[24];

	(void)state;
	assert_int_equal(store__object_path(buf, sizeof(buf), "t1", NF_STORE_POLICY, "a-b"), 0);
	assert_string_equal(buf, "/run/netfence/objects/t1/networkpolicy-a-b.json");
	assert_int_equal(store__object_path(buf, sizeof(buf), "t1", NF_STORE_TENANT, "t1"), 0);
	assert_string_equal(buf, "/run/netfence/objects/t1/tenant-t1.json");
	assert_int_equal(store__tenant_dir(buf, sizeof(buf), "t1"), 0);
	assert_string_equal(buf, "/run/netfence/objects/t1");
	assert_int_equal(store__ref_path(buf, sizeof(buf), "b", "a"), 0);
	assert_string_equal(buf, "/run/netfence/refs/b/a");
	assert_int_equal(store__ref_path(buf, sizeof(buf), "b", NULL), 0);
	assert_string_equal(buf, "/run/netfence/refs/b");
	assert_int_equal(store__pending_path(buf, sizeof(buf), "b"), 0);
	assert_string_equal(buf, "/run/netfence/refs/.pending-b");
	assert_int_equal(store__tenant_dir(small, sizeof(small), "a-long-tenant-name"),
			 -ENAMETOOLONG);
	assert_string_equal(store__kind_name(NF_STORE_POLICY), "NetworkPolicy");
	assert_string_equal(store__kind_name(NF_STORE_TENANT), "Tenant");
}

/*
 * store__buf_json_string writes what json_dumps writes for the string, and
 * jansson reads the string back: quotes, backslashes, every control
 * character, UTF-8, a compact JSON document (what the journal embeds).
 */
static void test_json_string(void **state)
{
	char ctl[32];
	const char *cases[] = {
		"", "plain", "a\"b", "back\\slash", "\"\\\"", "tab\tnl\ncr\rbs\bff\f",
		"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x92", "del\x7f",
		"{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"a\\\"b\"}}", ctl,
	};
	size_t i;
	json_t *v;

	for (i = 1; i < sizeof(ctl); i++)
		ctl[i - 1] = (char)i;
	ctl[sizeof(ctl) - 1] = 0;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store_buf b = {};
		char *want, *mem;

		store__buf_puts(&b, "");	/* an empty buffer grows from nothing */
		store__buf_json_string(&b, cases[i]);
		assert_false(b.oom);
		mem = b.p;
		assert_int_equal(strlen(mem), b.len);
		v = json_string(cases[i]);
		want = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		json_decref(v);
		assert_non_null(want);
		assert_string_equal(mem, want);
		v = json_loads(mem, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		assert_string_equal(json_string_value(v), cases[i]);
		json_decref(v);
		free(want);
		free(mem);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_touch_remove),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_json_string),
	};
	int rc;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd))
			rc = rc ?: 1;
	}
	return rc;
}
