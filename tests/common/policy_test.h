/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Helpers for the tests of the policy parser (test_policy, test_cnp_parse). */
#ifndef NF_TEST_POLICY_TEST_H
#define NF_TEST_POLICY_TEST_H

#include "policy.h"

/* The docset's problems are exactly `want` (NULL-terminated), in order; else
 * the test fails, printing both lists. */
void pt_check_problems(const char *what, struct nf_docset *ds, const char *const *want);

#endif
