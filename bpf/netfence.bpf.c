// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* placeholder while the datapath is written */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tc")
int tc_ingress(struct __sk_buff *skb) { return 2; }
char LICENSE[] SEC("license") = "Dual BSD/GPL";
