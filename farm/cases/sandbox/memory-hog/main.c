/* Allocate and touch memory until something stops it.  At the container's memory limit the
   kernel's OOM killer sends SIGKILL: the natural outcome, reported as CRASH(SIGKILL) with
   the farm's OOM note.  Reaching CEILING_MIB means there is no limit.  */
#include <stdlib.h>
#include <string.h>

#include "farm_case.h"

#define CHUNK_MIB 32
#define CEILING_MIB (16 * 1024)

int
main (void)
{
  for (int total = 0; total < CEILING_MIB; total += CHUNK_MIB)
    {
      char *chunk = malloc ((size_t) CHUNK_MIB << 20);
      if (chunk == NULL)
        FARM_FAIL ("malloc returned NULL after %d MiB instead of the OOM killer acting",
                   total);
      memset (chunk, 0x5a, (size_t) CHUNK_MIB << 20);
    }
  FARM_FAIL ("touched %d MiB without being stopped: no memory limit", CEILING_MIB);
}
