// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_test.h"

char *pt_unquote(const char *s)
{
	char *t = strdup(s), *p;

	assert_non_null(t);
	for (p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

void pt_check_problems(const char *what, struct nf_docset *ds, const char *const *want)
{
	size_t n = 0, i;
	bool ok;

	while (want[n])
		n++;
	ok = ds->n_problems == n;
	for (i = 0; ok && i < n; i++)
		ok = !strcmp(ds->problems[i], want[i]);
	if (ok)
		return;
	fprintf(stderr, "case: %s\n  got %zu problems:\n", what, ds->n_problems);
	for (i = 0; i < ds->n_problems; i++)
		fprintf(stderr, "    %s\n", ds->problems[i]);
	fprintf(stderr, "  want %zu:\n", n);
	for (i = 0; i < n; i++)
		fprintf(stderr, "    %s\n", want[i]);
	fail_msg("problems differ for case %s", what);
}
