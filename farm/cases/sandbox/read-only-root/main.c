/* A case (or the code a series adds) must not be able to change what later cases run
   against: the installed glibc, the case library, the system.  Only its scratch directory
   (the current one) and /tmp may be written.  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "farm_case.h"

static const char *const protected_paths[] = {
  "/farm-escape", "/etc/farm-escape", "/opt/glibc/lib/farm-escape",
  "/farm/cases/farm-escape", "/usr/lib/farm-escape", "/home/farm-escape",
};

int
main (void)
{
  for (size_t i = 0; i < sizeof protected_paths / sizeof protected_paths[0]; ++i)
    {
      int fd = open (protected_paths[i], O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd >= 0)
        {
          close (fd);
          unlink (protected_paths[i]);
          FARM_FAIL ("created %s: the root filesystem is writable", protected_paths[i]);
        }
      FARM_NOTE ("%s: %s", protected_paths[i], strerror (errno));
    }
  int fd = open ("scratch-file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    FARM_FAIL ("the scratch directory is not writable: %s", strerror (errno));
  close (fd);
  FARM_PASS ();
}
