/* Helpers shared by the replace/ cases: run a coreutils command the way a package manager
   or an administrator would, and look at files and mappings.  */

#ifndef FARM_REPLACE_UTIL_H
#define FARM_REPLACE_UTIL_H

#include "farm_case.h"

#include <errno.h>
#include <link.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

/* Run ARGV (searched in PATH) to completion; FAIL unless it exits 0.  */
__attribute__ ((unused)) static void
farm_run_command (char *const argv[])
{
  pid_t pid;
  int error = posix_spawnp (&pid, argv[0], NULL, NULL, argv, environ);
  if (error != 0)
    FARM_FAIL ("cannot run %s: %s", argv[0], strerror (error));
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      FARM_FAIL ("waitpid %s: %s", argv[0], strerror (errno));
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    FARM_FAIL ("%s did not succeed (wait status %#x)", argv[0], (unsigned int) status);
}

__attribute__ ((unused)) static struct stat
farm_stat (const char *path)
{
  struct stat st;
  if (stat (path, &st) != 0)
    FARM_FAIL ("stat %s: %s", path, strerror (errno));
  return st;
}

struct farm_offset_query
{
  uintptr_t address;
  long offset;
};

static int
farm_offset_callback (struct dl_phdr_info *info, size_t size, void *closure)
{
  (void) size;
  struct farm_offset_query *query = closure;
  for (int i = 0; i < info->dlpi_phnum; ++i)
    {
      const ElfW(Phdr) *phdr = &info->dlpi_phdr[i];
      uintptr_t start = info->dlpi_addr + phdr->p_vaddr;
      if (phdr->p_type == PT_LOAD && query->address >= start
          && query->address < start + phdr->p_filesz)
        {
          query->offset = (long) (query->address - start + phdr->p_offset);
          return 1;
        }
    }
  return 0;
}

/* The offset in its file of the code or data at ADDRESS; -1 if no loaded object has it.  */
__attribute__ ((unused)) static long
farm_file_offset_of (const void *address)
{
  struct farm_offset_query query = { (uintptr_t) address, -1 };
  dl_iterate_phdr (farm_offset_callback, &query);
  return query.offset;
}

#endif /* FARM_REPLACE_UTIL_H */
