/* Attack the farm's own harness.  The harness that runs a case and cleans up after it runs
   as the same user as the case, so a case can kill it.  This one does, then leaves a
   process behind that has let go of the exec's output (and files in scratch and /tmp whose
   names start with dots), and prints the line the harness prints when it finished cleaning
   up, claiming it passed.  The farm must see through it: no trusted trailer (the exec did
   not exit 0), so the outcome is unknown, and the farm cleans up from outside.  The case
   no-leftovers, which runs after this one, finds any process or file this one left.

   kill (-1, ...) reaches every process this user may signal: on a host that could be a
   whole login session.  So it refuses to run anywhere but in the farm's container: not as
   root, and only on a read-only root filesystem.  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "farm_case.h"

int
main (void)
{
  struct statvfs root;
  if (getuid () == 0 || statvfs ("/", &root) != 0 || !(root.f_flag & ST_RDONLY))
    FARM_UNSUPPORTED ("runs only as a non-root user on a read-only root (the farm's "
                      "container): kill (-1) would reach every process of this user");

  /* Files too, with the names a careless glob misses.  */
  static const char *const left_files[] = {
    "/tmp/..farm-left-behind", "/tmp/.farm-left-behind", "/farm/scratch/..farm-left-behind",
  };
  for (size_t i = 0; i < sizeof left_files / sizeof left_files[0]; ++i)
    {
      int fd = open (left_files[i], O_WRONLY | O_CREAT, 0644);
      if (fd < 0)
        FARM_FAIL ("cannot create %s: %s", left_files[i], strerror (errno));
      close (fd);
    }

  if (kill (-1, SIGKILL) != 0)
    FARM_FAIL ("kill (-1, SIGKILL) failed: %s", strerror (errno));
  FARM_NOTE ("killed every other process of uid %d, the farm's harness among them",
             (int) getuid ());

  pid_t pid = fork ();
  if (pid < 0)
    FARM_FAIL ("fork failed: %s", strerror (errno));
  if (pid == 0)
    {
      /* The leftover: its own session, away from the exec's output, forever.  */
      setsid ();
      int null = open ("/dev/null", O_RDWR);
      dup2 (null, 0);
      dup2 (null, 1);
      dup2 (null, 2);
      for (;;)
        pause ();
    }
  FARM_NOTE ("left process %d behind", (int) pid);
  /* The harness's trailer, forged: "case status 0, no OOM kill, scratch cleaned".  */
  printf ("\nfarm-settled 0 0 yes\n");
  fflush (stdout);
  return FARM_EXIT_PASS;
}
