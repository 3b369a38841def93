// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A loaded program's JIT image and where its source lines start in it, for
 * profiling (bench/ab.sh --perf): Debian's bpftool is built without a
 * disassembler, so `bpftool prog dump jited` refuses. The image is written
 * to FILE (disassemble it with `objdump -D -b binary -mi386:x86-64
 * --adjust-vma=ADDR`); stdout gets one line per line_info record:
 *
 *   KERNEL_ADDRESS_HEX LINE_NUMBER SOURCE_LINE
 *
 * the address of the record's first instruction in the image, sorted as the
 * kernel gives them. A perf sample's ip belongs to the last record at or
 * below it (a stalled instruction's sample usually lands on the next one).
 *
 *   bench_jitlines --id PROG_ID --image FILE
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

static int usage(void)
{
	fprintf(stderr, "usage: bench_jitlines --id PROG_ID --image FILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "image", required_argument, NULL, 'o' },
		{},
	};
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), jlen, nli, njli, rec, i;
	struct bpf_line_info *li = NULL;
	const char *image = NULL;
	__u64 *jli = NULL;
	struct btf *btf = NULL;
	unsigned char *jit = NULL;
	long id = -1;
	int c, fd, rc = 1;
	FILE *f;

	while ((c = getopt_long(argc, argv, "i:o:", lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			id = strtol(optarg, NULL, 10);
			break;
		case 'o':
			image = optarg;
			break;
		default:
			return usage();
		}
	}
	if (id <= 0 || !image)
		return usage();
	fd = bpf_prog_get_fd_by_id((__u32)id);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "bench_jitlines: program %ld: %s\n", id, strerror(errno));
		return 1;
	}
	jlen = info.jited_prog_len;
	nli = info.nr_line_info;
	njli = info.nr_jited_line_info;
	rec = info.line_info_rec_size;
	if (!jlen || !njli || rec < sizeof(*li) || info.jited_line_info_rec_size != sizeof(__u64)) {
		fprintf(stderr, "bench_jitlines: program %ld has no JIT image or line info\n", id);
		goto out;
	}
	jit = malloc(jlen);
	li = calloc(nli, rec);
	jli = calloc(njli, sizeof(*jli));
	if (!jit || !li || !jli)
		goto out;
	btf = btf__load_from_kernel_by_id(info.btf_id);
	memset(&info, 0, sizeof(info));
	info.jited_prog_len = jlen;
	info.jited_prog_insns = (__u64)(unsigned long)jit;
	info.nr_line_info = nli;
	info.line_info_rec_size = rec;
	info.line_info = (__u64)(unsigned long)li;
	info.nr_jited_line_info = njli;
	info.jited_line_info_rec_size = sizeof(__u64);
	info.jited_line_info = (__u64)(unsigned long)jli;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "bench_jitlines: program %ld: %s\n", id, strerror(errno));
		goto out;
	}
	f = fopen(image, "wb");
	if (!f || fwrite(jit, 1, jlen, f) != jlen || fclose(f)) {
		fprintf(stderr, "bench_jitlines: cannot write %s: %s\n", image, strerror(errno));
		goto out;
	}
	/* jited_line_info[i] is where line_info[i] starts (both per program) */
	for (i = 0; i < njli && i < nli; i++) {
		const struct bpf_line_info *l = (const void *)((char *)li + (size_t)i * rec);
		const char *src = btf ? btf__name_by_offset(btf, l->line_off) : NULL;

		printf("%llx %u %s\n", (unsigned long long)jli[i], BPF_LINE_INFO_LINE_NUM(l->line_col),
		       src ? src : "");
	}
	rc = 0;
out:
	btf__free(btf);
	free(jit);
	free(li);
	free(jli);
	close(fd);
	return rc;
}
