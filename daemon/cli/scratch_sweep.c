/* scratch_sweep.c — scratch dirs a killed run left; see scratch.h. */
#include "scratch.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "store.h"

/* Older than this, a scratch dir whose lock no process holds is not one
 * being made right now (its maker locks it at once). */
#define LEFT_AFTER_S 60

/* Whether dir holds nothing but a store's files. */
static bool only_store_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool only = true;
	struct dirent *e;
	while (only && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		only = false;
		for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++)
			only |= strcmp(e->d_name, store_dir_files[i]) == 0;
	}
	closedir(d);
	return only;
}

void cli_scratch_sweep(const char *cmd, const char *template, const char *what)
{
	char parent[4200];
	const char *name = cli_path_split(template, parent, sizeof parent);
	size_t len = strlen(name), prefix_len = len - 6; /* the name without XXXXXX */
	if (len <= 6)
		return;
	DIR *d = opendir(parent);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[4500];
		struct stat sb;
		long pid;
		if (strlen(e->d_name) != len || strncmp(e->d_name, name, prefix_len) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
		if (lstat(path, &sb) || !S_ISDIR(sb.st_mode) || time(NULL) - sb.st_mtime < LEFT_AFTER_S ||
		    store_dir_in_use(path, &pid) != 0 || !only_store_files(path))
			continue;
		/* Its maker holds its lock while it runs (cli_scratch_make); held
		 * here, no one takes it while it goes. Only the directory looked at:
		 * swapped for a link since (to someone's data dir), it is left. */
		int fd;
		if (store_lock_dir_seen(path, &sb, &fd))
			continue;
		store_remove_dir_locked(path, fd);
		store_unlock_dir(fd);
		fprintf(stderr, "pledged %s: removed '%s', %s a killed run left\n", cmd, path, what);
	}
	closedir(d);
}
