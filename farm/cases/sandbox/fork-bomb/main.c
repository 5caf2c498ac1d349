/* Fork until fork() fails.  The container's process limit must stop it (EAGAIN) well
   before LIMIT_ABSENT children.  The children are left running on purpose: cleaning up
   after a hostile case is the farm's job, and the next case proves it was done.  */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "farm_case.h"

#define LIMIT_ABSENT 20000

int
main (void)
{
  int children = 0;
  for (; children < LIMIT_ABSENT; ++children)
    {
      pid_t pid = fork ();
      if (pid == 0)
        for (;;)
          pause ();
      if (pid < 0)
        {
          if (errno != EAGAIN)
            FARM_FAIL ("fork failed with %s, not EAGAIN", strerror (errno));
          FARM_NOTE ("fork failed with EAGAIN after %d children: the process limit holds",
                     children);
          FARM_PASS ();
        }
    }
  FARM_FAIL ("%d children and fork still succeeds: no process limit", children);
}
