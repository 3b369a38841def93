/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one header of constants for BPF code: vmlinux.h carries types but no
 * #defines, so TC_ACT_*, ETH_P_*, AF_*, IPPROTO_* values live here only.
 */
#ifndef NF_BPF_CONSTS_H
#define NF_BPF_CONSTS_H

#define TC_ACT_OK		0
#define TC_ACT_SHOT		2

#define CG_PASS			1
#define CG_DROP			0

#define ETH_HLEN		14
#define ETH_P_IP		0x0800
#define ETH_P_ARP		0x0806
#define ETH_P_IPV6		0x86DD

#define AF_INET			2
#define AF_INET6		10
#define AF_PACKET		17

#define NF_IPPROTO_HOPOPTS	0
#define NF_IPPROTO_ICMP		1
#define NF_IPPROTO_TCP		6
#define NF_IPPROTO_UDP		17
#define NF_IPPROTO_ROUTING	43
#define NF_IPPROTO_FRAGMENT	44
#define NF_IPPROTO_AH		51
#define NF_IPPROTO_ICMPV6	58
#define NF_IPPROTO_NONE		59
#define NF_IPPROTO_DSTOPTS	60
#define NF_IPPROTO_SCTP		132

#define IP_MF			0x2000
#define IP_OFFSET		0x1FFF

#define TCP_FLAG_FIN		0x01
#define TCP_FLAG_SYN		0x02
#define TCP_FLAG_RST		0x04
#define TCP_FLAG_ACK		0x10

/* ICMP types */
#define ICMP_ECHOREPLY		0
#define ICMP_DEST_UNREACH	3
#define ICMP_ECHO		8
#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMETERPROB	12
#define ICMPV6_DEST_UNREACH	1
#define ICMPV6_PKT_TOOBIG	2
#define ICMPV6_TIME_EXCEED	3
#define ICMPV6_PARAMPROB	4
#define ICMPV6_ECHO_REQUEST	128
#define ICMPV6_ECHO_REPLY	129
#define ICMPV6_MLD_QUERY	130
#define ICMPV6_MLD_DONE		132
#define ICMPV6_MLD2_REPORT	143
#define NDISC_ROUTER_SOLICIT	133
#define NDISC_ROUTER_ADVERTISEMENT	134
#define NDISC_NEIGHBOUR_SOLICITATION	135
#define NDISC_NEIGHBOUR_ADVERTISEMENT	136
#define NDISC_REDIRECT		137
#define ICMPV6_MLD_REPORT	131
#define ETH_P_8021Q		0x8100
#define ETH_P_8021AD		0x88A8
#define ARPHRD_ETHER		1

#define NS_PER_SEC		1000000000ULL

#endif
