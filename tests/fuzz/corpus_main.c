/*
 * corpus_main.c — runs a fuzz target over every file of its corpus folder,
 * without libFuzzer: the seed corpus and every crash ever found (kept as
 * files there) become regression tests in ordinary builds.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	DIR *d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	int files = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		uint8_t *buf = malloc(1 << 20);
		size_t n = fread(buf, 1, 1 << 20, f);
		fclose(f);
		/* An exact-size copy, so AddressSanitizer catches any overread. */
		uint8_t *exact = malloc(n ? n : 1);
		for (size_t i = 0; i < n; i++)
			exact[i] = buf[i];
		free(buf);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
		files++;
	}
	closedir(d);
	printf("%d passed, 0 failed\n", files);
	return files > 0 ? 0 : 1;
}
