// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* placeholder, replaced by the bench reference programs */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tc")
int ref_noop(struct __sk_buff *skb) { return 0; }
char LICENSE[] SEC("license") = "Dual BSD/GPL";
