/* Small file-system helpers shared by the library and the CLI. */
#ifndef GS_UTIL_FS_H
#define GS_UTIL_FS_H

/* Creates dir and any missing parents (mode 0777 before umask). Returns 0, or -1 with
 * errno set (ENOTDIR when a path component is a file). */
int gs_mkdir_p(const char *dir);

#endif
