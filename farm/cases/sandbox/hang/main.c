/* Never return: the farm must kill this at the case's timeout, report TIMEOUT and go on.  */
#include <unistd.h>

#include "farm_case.h"

int
main (void)
{
  FARM_NOTE ("sleeping forever");
  for (;;)
    pause ();
}
