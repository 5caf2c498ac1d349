/* An rtld-audit module that records, for every object the loader opens, the namespace it
   was opened in: one line "<lmid> <name>" per la_objopen call, appended to the file named
   by $FARM_AUDIT_LOG.  The module runs in its own audit namespace, so it reports through a
   file rather than through any state the program could read directly.  */

#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int log_fd = -1;

unsigned int
la_version (unsigned int version)
{
  const char *path = getenv ("FARM_AUDIT_LOG");
  if (path != NULL)
    log_fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  /* Refusing an interface version we were not built for is what the loader expects.  */
  return version < LAV_CURRENT ? version : LAV_CURRENT;
}

unsigned int
la_objopen (struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
  (void) cookie;
  if (log_fd >= 0)
    {
      char line[4096];
      int length = snprintf (line, sizeof line, "%ld %s\n", (long) lmid,
                             map->l_name[0] != '\0' ? map->l_name : "<main>");
      if (length > 0 && (size_t) length < sizeof line)
        {
          ssize_t ignored = write (log_fd, line, (size_t) length);
          (void) ignored;
        }
    }
  return 0; /* no symbol binding audit needed */
}
