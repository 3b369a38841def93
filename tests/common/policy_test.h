/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Helpers for the tests of the policy parser (test_policy, test_cnp_parse). */
#ifndef NF_TEST_POLICY_TEST_H
#define NF_TEST_POLICY_TEST_H

#include "policy.h"

/* The docset's problems are exactly `want` (NULL-terminated), in order; else
 * the test fails, printing both lists. */
/* A malloc'd copy of s with every ' made " (JSON written in C strings). */
char *pt_unquote(const char *s);

void pt_check_problems(const char *what, struct nf_docset *ds, const char *const *want);

#endif
