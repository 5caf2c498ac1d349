/* The farm kills whatever a case leaves behind before the next case runs.  This case
   checks it from the inside: every process of its own user must be itself or one of its
   ancestors (the harness, timeout, the case script).  A zombie not yet reaped by the
   container's init holds nothing but a process slot, and is only noted.  In the sandbox
   family it runs after fork-bomb, hang and kill-the-harness, which all leave processes.  */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm_case.h"

#define MAX_ANCESTORS 64

struct proc_status
{
  char name[64];
  char state;
  long ppid;
  long uid;
};

/* Read /proc/PID/status; 0 if the process is gone.  */
static int
read_status (long pid, struct proc_status *status)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/status", pid);
  FILE *file = fopen (path, "r");
  if (file == NULL)
    return 0;
  memset (status, 0, sizeof *status);
  status->uid = -1;
  char line[256];
  while (fgets (line, sizeof line, file) != NULL)
    {
      if (sscanf (line, "Name: %63s", status->name) == 1)
        continue;
      if (sscanf (line, "State: %c", &status->state) == 1)
        continue;
      if (sscanf (line, "PPid: %ld", &status->ppid) == 1)
        continue;
      sscanf (line, "Uid: %ld", &status->uid);
    }
  fclose (file);
  return 1;
}

int
main (void)
{
  long ancestors[MAX_ANCESTORS];
  int count = 0;
  for (long pid = getpid (); pid > 1 && count < MAX_ANCESTORS;)
    {
      struct proc_status status;
      ancestors[count++] = pid;
      if (!read_status (pid, &status))
        break;
      pid = status.ppid;
    }

  DIR *proc = opendir ("/proc");
  if (proc == NULL)
    FARM_FAIL ("cannot read /proc");
  int others = 0, zombies = 0, seen = 0;
  struct dirent *entry;
  while ((entry = readdir (proc)) != NULL)
    {
      if (!isdigit ((unsigned char) entry->d_name[0]))
        continue;
      long pid = strtol (entry->d_name, NULL, 10);
      struct proc_status status;
      if (!read_status (pid, &status) || status.uid != (long) getuid ())
        continue;
      ++seen;
      int ours = 0;
      for (int i = 0; i < count; ++i)
        ours |= ancestors[i] == pid;
      if (ours)
        continue;
      if (status.state == 'Z')
        {
          ++zombies;
          continue;
        }
      ++others;
      printf ("leftover: pid %ld (%s), state %c, parent %ld\n", pid, status.name,
              status.state, status.ppid);
    }
  closedir (proc);
  FARM_NOTE ("%d processes of uid %d: this case and its %d ancestors; %d zombies",
             seen, (int) getuid (), count - 1, zombies);
  if (others > 0)
    FARM_FAIL ("%d processes of an earlier case are still running", others);
  FARM_PASS ();
}
